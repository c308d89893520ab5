//! The outbox: e-mails written in the same transaction as the change that causes them, then
//! delivered by a worker. Templates are rendered here, in the recipient's language.

use crate::auth::Scope;
use crate::entities::{Organization, Partner};
use crate::i18n::{Language, Localized};
use crate::ids::OrganizationId;
use crate::values::EmailAddress;
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

/// After this many failed attempts a notification is marked failed.
pub const MAX_ATTEMPTS: i32 = 8;

/// The wait before attempt `attempts + 1`: 30 s, doubling, at most 1 h.
pub fn backoff(attempts: i32) -> Duration {
    let exponent = attempts.clamp(0, 7) as u32;
    Duration::seconds((30_i64 << exponent).min(3600))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Sent,
    Failed,
    /// Nobody to send it to (an organization without contact e-mails, a partner without a
    /// contact): kept in the outbox so that it is seen, never delivered.
    NoRecipient,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 4] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Sent,
        DeliveryStatus::Failed,
        DeliveryStatus::NoRecipient,
    ];

    pub fn code(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::NoRecipient => "no_recipient",
        }
    }

    pub fn parse(code: &str) -> Option<DeliveryStatus> {
        DeliveryStatus::ALL.into_iter().find(|s| s.code() == code)
    }

    /// What a person reads for the status.
    pub fn label(self) -> Localized {
        let (en, fr) = match self {
            DeliveryStatus::Pending => ("Waiting to be sent", "En attente d'envoi"),
            DeliveryStatus::Sent => ("Sent", "Envoyé"),
            DeliveryStatus::Failed => ("Could not be delivered", "Échec de l'envoi"),
            DeliveryStatus::NoRecipient => ("No recipient", "Aucun destinataire"),
        };
        Localized::new(en, fr)
    }
}

/// The addresses one message goes to: each of `contacts`, or — when there is none — one
/// notification without a recipient, so that the outbox shows that nobody was told.
pub fn addressees<'a>(
    contacts: impl IntoIterator<Item = &'a EmailAddress>,
) -> Vec<Option<EmailAddress>> {
    let list: Vec<Option<EmailAddress>> = contacts.into_iter().cloned().map(Some).collect();
    if list.is_empty() {
        vec![None]
    } else {
        list
    }
}

/// Which side of a permission an e-mail about it goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Organization,
    Partner,
}

/// A message to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    /// To the organization's administrators: a partner asks for a permission.
    PermissionRequested {
        partner: &'a str,
        organization: &'a str,
        scopes: &'a [Scope],
    },
    /// To the partner: the organization decided.
    PermissionDecided {
        organization: &'a str,
        decision: Decision,
    },
    /// To the organization's administrators: the partner withdrew its request.
    PermissionWithdrawn {
        partner: &'a str,
        organization: &'a str,
    },
    /// To both sides: time ended the permission (its end date passed, or a request was left
    /// unanswered for 90 days).
    PermissionExpired {
        partner: &'a str,
        organization: &'a str,
        /// Whether it had been approved (otherwise it was a request nobody answered).
        was_approved: bool,
        to: Side,
    },
    /// To a voucher's holder.
    VoucherAssigned {
        holder: &'a str,
        course: &'a str,
        days: i64,
        expires_at: DateTime<Utc>,
    },
    VoucherRevoked {
        holder: &'a str,
        course: &'a str,
    },
    /// To a benefit's user: what to do with it (the type's end-user instructions).
    Instructions {
        user: &'a str,
        benefit: &'a Localized,
        instructions: &'a Localized,
        /// The benefit's program / access code, for a type whose instructions refer to it.
        code: Option<&'a str>,
    },
    /// To a benefit's user: the program / access code.
    AccessCode {
        user: &'a str,
        benefit: &'a Localized,
        code: &'a str,
        instructions: &'a Localized,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approved,
    Declined,
    Removed,
}

impl Decision {
    /// The decision a move to `to` tells the partner about, if it is one.
    pub fn of(to: crate::permission::PermissionStatus) -> Option<Decision> {
        use crate::permission::PermissionStatus::*;
        match to {
            Approved => Some(Decision::Approved),
            Declined => Some(Decision::Declined),
            Removed => Some(Decision::Removed),
            Pending | Withdrawn | Expired => None,
        }
    }
}

impl Message<'_> {
    /// The template's stable name, shown in the outbox.
    /// Every template a notification can have.
    pub const TEMPLATES: [&'static str; 10] = [
        "permission_requested",
        "permission_approved",
        "permission_declined",
        "permission_removed",
        "permission_withdrawn",
        "permission_expired",
        "voucher_assigned",
        "voucher_revoked",
        "end_user_instructions",
        "access_code",
    ];

    pub fn template(&self) -> &'static str {
        match self {
            Message::PermissionRequested { .. } => "permission_requested",
            Message::PermissionDecided {
                decision: Decision::Approved,
                ..
            } => "permission_approved",
            Message::PermissionDecided {
                decision: Decision::Declined,
                ..
            } => "permission_declined",
            Message::PermissionDecided {
                decision: Decision::Removed,
                ..
            } => "permission_removed",
            Message::PermissionWithdrawn { .. } => "permission_withdrawn",
            Message::PermissionExpired { .. } => "permission_expired",
            Message::VoucherAssigned { .. } => "voucher_assigned",
            Message::VoucherRevoked { .. } => "voucher_revoked",
            Message::Instructions { .. } => "end_user_instructions",
            Message::AccessCode { .. } => "access_code",
        }
    }

    /// Subject and body in `language`.
    pub fn render(&self, language: Language) -> (String, String) {
        let fr = language == Language::Fr;
        match self {
            Message::PermissionRequested {
                partner,
                organization,
                scopes,
            } => {
                let list = scopes
                    .iter()
                    .map(|s| format!("- {}", s.label().get(language)))
                    .collect::<Vec<_>>()
                    .join("\n");
                if fr {
                    (
                        format!("{partner} demande à gérer les avantages de {organization}"),
                        format!("{partner} demande l'autorisation de gérer vos avantages Software Assurance pour {organization}, avec ces périmètres :\n{list}\n\nApprouvez ou refusez la demande sur la page « Avantages gérés par un partenaire »."),
                    )
                } else {
                    (
                        format!("{partner} asks to manage the benefits of {organization}"),
                        format!("{partner} asks for permission to manage your Software Assurance benefits for {organization}, with these scopes:\n{list}\n\nApprove or decline the request on the \"Partner-managed benefits\" page."),
                    )
                }
            }
            Message::PermissionDecided {
                organization,
                decision,
            } => {
                let (en, fr_word) = match decision {
                    Decision::Approved => ("approved", "approuvé"),
                    Decision::Declined => ("declined", "refusé"),
                    Decision::Removed => ("removed", "retiré"),
                };
                if fr {
                    (
                        format!("{organization} a {fr_word} votre autorisation"),
                        format!("{organization} a {fr_word} votre autorisation de gérer ses avantages Software Assurance."),
                    )
                } else {
                    (
                        format!("{organization} {en} your permission"),
                        format!("{organization} {en} your permission to manage its Software Assurance benefits."),
                    )
                }
            }
            Message::PermissionWithdrawn {
                partner,
                organization,
            } => {
                if fr {
                    (
                        format!("{partner} a retiré sa demande"),
                        format!("{partner} a retiré sa demande d'autorisation de gérer les avantages Software Assurance de {organization}. Rien n'est à faire."),
                    )
                } else {
                    (
                        format!("{partner} withdrew its request"),
                        format!("{partner} withdrew its request for permission to manage the Software Assurance benefits of {organization}. Nothing is left to do."),
                    )
                }
            }
            Message::PermissionExpired {
                partner,
                organization,
                was_approved,
                to,
            } => match (to, was_approved, fr) {
                (Side::Organization, true, false) => (
                    format!("The permission of {partner} has expired"),
                    format!("The permission of {partner} to manage the Software Assurance benefits of {organization} reached its end date: {partner} can no longer act on them. It may ask again."),
                ),
                (Side::Organization, true, true) => (
                    format!("L'autorisation de {partner} a expiré"),
                    format!("L'autorisation de {partner} de gérer les avantages Software Assurance de {organization} a atteint sa date de fin : {partner} ne peut plus agir sur eux. Il peut en faire de nouveau la demande."),
                ),
                (Side::Organization, false, false) => (
                    format!("The request of {partner} has expired"),
                    format!("The request of {partner} to manage the Software Assurance benefits of {organization} went 90 days without an answer and has expired. Nothing is left to do."),
                ),
                (Side::Organization, false, true) => (
                    format!("La demande de {partner} a expiré"),
                    format!("La demande de {partner} de gérer les avantages Software Assurance de {organization} est restée 90 jours sans réponse et a expiré. Rien n'est à faire."),
                ),
                (Side::Partner, true, false) => (
                    format!("Your permission for {organization} has expired"),
                    format!("Your permission to manage the Software Assurance benefits of {organization} reached its end date. To go on, ask {organization} again."),
                ),
                (Side::Partner, true, true) => (
                    format!("Votre autorisation pour {organization} a expiré"),
                    format!("Votre autorisation de gérer les avantages Software Assurance de {organization} a atteint sa date de fin. Pour continuer, adressez une nouvelle demande à {organization}."),
                ),
                (Side::Partner, false, false) => (
                    format!("Your request to {organization} has expired"),
                    format!("{organization} did not answer your request to manage its Software Assurance benefits within 90 days: the request has expired. You may ask again."),
                ),
                (Side::Partner, false, true) => (
                    format!("Votre demande à {organization} a expiré"),
                    format!("{organization} n'a pas répondu sous 90 jours à votre demande de gérer ses avantages Software Assurance : la demande a expiré. Vous pouvez la renouveler."),
                ),
            },
            Message::VoucherAssigned {
                holder,
                course,
                days,
                expires_at,
            } => {
                let date = expires_at.format("%Y-%m-%d");
                if fr {
                    (
                        format!("Votre bon de formation : {course}"),
                        format!("Bonjour {holder},\n\nUn bon de formation de {} pour « {course} » vous a été attribué. Utilisez-le avant le {date}.", crate::catalog::Unit::TrainingDays.count(*days, crate::Language::Fr)),
                    )
                } else {
                    (
                        format!("Your training voucher: {course}"),
                        format!("Hello {holder},\n\nA training voucher of {} for \"{course}\" has been assigned to you. Use it before {date}.", crate::catalog::Unit::TrainingDays.count(*days, crate::Language::En)),
                    )
                }
            }
            Message::Instructions {
                user,
                benefit,
                instructions,
                code,
            } => {
                let (name, text) = (benefit.get(language), instructions.get(language));
                let code = match (code, fr) {
                    (Some(code), false) => format!("\n\nYour code: {code}"),
                    (Some(code), true) => format!("\n\nVotre code : {code}"),
                    (None, _) => String::new(),
                };
                if fr {
                    (
                        format!("Comment utiliser votre avantage : {name}"),
                        format!("Bonjour {user},\n\nVous bénéficiez de « {name} ».\n\n{text}{code}"),
                    )
                } else {
                    (
                        format!("How to use your benefit: {name}"),
                        format!("Hello {user},\n\nYou have been given \"{name}\".\n\n{text}{code}"),
                    )
                }
            }
            Message::AccessCode {
                user,
                benefit,
                code,
                instructions,
            } => {
                let (name, text) = (benefit.get(language), instructions.get(language));
                if fr {
                    (
                        format!("Votre code pour {name}"),
                        format!("Bonjour {user},\n\nVotre code pour « {name} » : {code}\n\n{text}"),
                    )
                } else {
                    (
                        format!("Your code for {name}"),
                        format!("Hello {user},\n\nYour code for \"{name}\": {code}\n\n{text}"),
                    )
                }
            }
            Message::VoucherRevoked { holder, course } => {
                if fr {
                    (
                        format!("Bon de formation annulé : {course}"),
                        format!("Bonjour {holder},\n\nVotre bon de formation pour « {course} » a été annulé par votre administrateur."),
                    )
                } else {
                    (
                        format!("Training voucher cancelled: {course}"),
                        format!("Hello {holder},\n\nYour training voucher for \"{course}\" has been cancelled by your administrator."),
                    )
                }
            }
        }
    }
}

/// The e-mails telling both sides that time ended a permission (PRODUCT.md §8): each of the
/// organization's contacts in its language, and the partner's contact in the partner's — or,
/// for a side with nobody to write to, one notification recorded without a recipient.
/// `id` draws each notification's id (the domain draws no randomness).
pub fn permission_expired(
    mut id: impl FnMut() -> Uuid,
    organization: &Organization,
    partner: &Partner,
    was_approved: bool,
    now: DateTime<Utc>,
) -> Vec<Notification> {
    let sides = [
        (
            Side::Organization,
            addressees(&organization.contact_emails),
            organization.preferred_language,
        ),
        (
            Side::Partner,
            addressees(&partner.contact_email),
            partner.preferred_language,
        ),
    ];
    let mut notices = Vec::new();
    for (to, recipients, language) in sides {
        let message = Message::PermissionExpired {
            partner: partner.name.as_str(),
            organization: organization.name.as_str(),
            was_approved,
            to,
        };
        for recipient in recipients {
            notices.push(Notification::new(
                id(),
                organization.id,
                recipient,
                &message,
                language,
                now,
            ));
        }
    }
    notices
}

/// A notification in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: Uuid,
    pub organization_id: OrganizationId,
    /// `None` when there was nobody to send it to (status `no_recipient`).
    pub recipient: Option<EmailAddress>,
    pub template: String,
    pub language: Language,
    pub subject: String,
    pub body: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl Notification {
    /// A new notification (`id` from the caller: the domain draws no randomness): pending,
    /// or `no_recipient` when there is nobody to send it to.
    pub fn new(
        id: Uuid,
        organization_id: OrganizationId,
        recipient: Option<EmailAddress>,
        message: &Message<'_>,
        language: Language,
        now: DateTime<Utc>,
    ) -> Notification {
        let (subject, body) = message.render(language);
        Notification {
            id,
            organization_id,
            template: message.template().to_owned(),
            language,
            subject,
            body,
            status: if recipient.is_some() {
                DeliveryStatus::Pending
            } else {
                DeliveryStatus::NoRecipient
            },
            recipient,
            attempts: 0,
            last_error: None,
            next_attempt_at: now,
            created_at: now,
            sent_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(0), Duration::seconds(30));
        assert_eq!(backoff(1), Duration::seconds(60));
        assert_eq!(backoff(6), Duration::seconds(1920));
        assert_eq!(backoff(7), Duration::seconds(3600));
        assert_eq!(backoff(100), Duration::seconds(3600));
    }

    #[test]
    fn a_message_without_a_contact_is_kept_with_no_recipient() {
        assert_eq!(addressees(&[]), vec![None]);
        let contact = EmailAddress::parse("it@contoso.com").unwrap();
        assert_eq!(
            addressees(std::slice::from_ref(&contact)),
            vec![Some(contact)]
        );
        let m = Message::PermissionWithdrawn {
            partner: "Fabrikam",
            organization: "Contoso",
        };
        let n = Notification::new(
            Uuid::nil(),
            OrganizationId(Uuid::nil()),
            None,
            &m,
            Language::En,
            Utc::now(),
        );
        assert_eq!(n.status, DeliveryStatus::NoRecipient);
    }

    #[test]
    fn expiry_messages_differ_by_side_and_language() {
        let mut seen = std::collections::HashSet::new();
        for to in [Side::Organization, Side::Partner] {
            for was_approved in [true, false] {
                for language in Language::ALL {
                    let (subject, body) = Message::PermissionExpired {
                        partner: "Fabrikam",
                        organization: "Contoso",
                        was_approved,
                        to,
                    }
                    .render(language);
                    assert!(body.contains("Contoso"));
                    assert!(seen.insert(subject));
                }
            }
        }
    }

    #[test]
    fn messages_render_in_both_languages() {
        let m = Message::PermissionRequested {
            partner: "Fabrikam",
            organization: "Contoso",
            scopes: &[Scope::ManageUsers],
        };
        let (subject, body) = m.render(Language::En);
        assert!(subject.contains("Fabrikam") && body.contains("Manage users"));
        let (subject, body) = m.render(Language::Fr);
        assert!(subject.contains("demande") && body.contains("Gérer les utilisateurs"));
        assert!(
            !body.contains("Manage users"),
            "no English label in French: {body}"
        );
        assert_eq!(m.template(), "permission_requested");
    }
}
