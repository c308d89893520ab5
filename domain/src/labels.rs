//! Every value a person reads has a label in English and in French (PRODUCT.md §3): this
//! test walks every labelled closed set of the domain.

#[cfg(test)]
mod tests {
    use crate::auth::{Role, Scope};
    use crate::benefit::{Severity, Status};
    use crate::catalog::Unit;
    use crate::ledger::EntryKind;
    use crate::permission::{Mover, PermissionStatus};
    use crate::voucher::VoucherStatus;
    use crate::{Language, Localized};
    use std::collections::HashSet;

    /// Words that are the same in both languages and right in each: they are the French label.
    const COGNATES: &[&str] = &["incidents", "participants", "incident", "participant"];

    fn check(set: &str, labels: Vec<(String, Localized)>) {
        let mut english = HashSet::new();
        let mut french = HashSet::new();
        for (code, label) in labels {
            let (en, fr) = (label.get(Language::En), label.get(Language::Fr));
            assert!(
                !en.trim().is_empty() && !fr.trim().is_empty(),
                "{set}.{code}: empty label"
            );
            assert!(
                en != fr || COGNATES.contains(&fr),
                "{set}.{code}: the French label {fr:?} is the English one"
            );
            assert!(english.insert(en.to_owned()), "{set}: {en:?} twice");
            assert!(french.insert(fr.to_owned()), "{set}: {fr:?} twice");
        }
    }

    #[test]
    fn every_value_a_person_reads_has_distinct_labels_in_both_languages() {
        check(
            "PermissionStatus",
            PermissionStatus::ALL
                .iter()
                .map(|s| (s.code().to_owned(), s.label()))
                .collect(),
        );
        check(
            "VoucherStatus",
            VoucherStatus::ALL
                .iter()
                .map(|s| (s.code().to_owned(), s.label()))
                .collect(),
        );
        check(
            "BenefitStatus",
            Status::ALL
                .iter()
                .map(|s| (s.code().to_owned(), s.label()))
                .collect(),
        );
        check(
            "EntryKind",
            EntryKind::ALL
                .iter()
                .map(|k| (k.code().to_owned(), k.label()))
                .collect(),
        );
        check(
            "Scope",
            Scope::ALL
                .iter()
                .map(|s| (s.code().to_owned(), s.label()))
                .collect(),
        );
        check(
            "Severity",
            Severity::ALL
                .iter()
                .map(|s| (s.code().to_owned(), s.label()))
                .collect(),
        );
        check(
            "Role",
            Role::ALL
                .iter()
                .map(|r| (r.code().to_owned(), r.label()))
                .collect(),
        );
        check(
            "Unit",
            Unit::ALL
                .iter()
                .map(|u| {
                    (
                        u.code().to_owned(),
                        Localized::new(u.label(Language::En), u.label(Language::Fr)),
                    )
                })
                .collect(),
        );
        check(
            "Unit (one)",
            Unit::ALL
                .iter()
                .map(|u| {
                    (
                        u.code().to_owned(),
                        Localized::new(u.singular(Language::En), u.singular(Language::Fr)),
                    )
                })
                .collect(),
        );
        check(
            "Mover",
            [Mover::Partner, Mover::CustomerAdmin, Mover::Time]
                .iter()
                .map(|m| (m.code().to_owned(), m.label()))
                .collect(),
        );
    }

    /// A count reads in the right number in each language: French takes the singular for 0
    /// and 1 ("0 jour de formation"), English for 1 only ("0 training days").
    #[test]
    fn counts_take_the_number_of_each_language() {
        let days = Unit::TrainingDays;
        assert_eq!(days.count(1, Language::En), "1 training day");
        assert_eq!(days.count(0, Language::En), "0 training days");
        assert_eq!(days.count(-1, Language::En), "-1 training day");
        assert_eq!(days.count(3, Language::En), "3 training days");
        assert_eq!(days.count(1, Language::Fr), "1 jour de formation");
        assert_eq!(days.count(0, Language::Fr), "0 jour de formation");
        assert_eq!(days.count(2, Language::Fr), "2 jours de formation");
        assert_eq!(
            Unit::PlanningDays.count(1, Language::Fr),
            "1 jour de planification"
        );
        assert_eq!(Unit::Downloads.count(1, Language::Fr), "1 téléchargement");
        assert_eq!(Unit::Incidents.count(17, Language::Fr), "17 incidents");
        for unit in Unit::ALL.into_iter().filter(|u| u.is_metered()) {
            for l in [Language::En, Language::Fr] {
                assert_ne!(
                    unit.count(1, l),
                    unit.count(2, l).replace('2', "1"),
                    "{unit:?} {l:?}"
                );
            }
        }
    }
}
