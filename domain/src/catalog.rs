//! The benefit catalog. Types are data (they live in the database and more can be added
//! without touching the rules); the metering units are code.

use crate::error::{Refusal, RefusalKind};
use crate::i18n::{Language, Localized};
use crate::values::InvalidValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a benefit is counted in. The unit decides how the benefit is metered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Incidents,
    Participants,
    Downloads,
    Licenses,
    PlanningDays,
    TrainingDays,
    /// No quantity at all: nothing is counted and consumption is refused.
    Unmetered,
}

impl Unit {
    pub const ALL: [Unit; 7] = [
        Unit::Incidents,
        Unit::Participants,
        Unit::Downloads,
        Unit::Licenses,
        Unit::PlanningDays,
        Unit::TrainingDays,
        Unit::Unmetered,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Unit::Incidents => "incidents",
            Unit::Participants => "participants",
            Unit::Downloads => "downloads",
            Unit::Licenses => "licenses",
            Unit::PlanningDays => "planning_days",
            Unit::TrainingDays => "training_days",
            Unit::Unmetered => "unmetered",
        }
    }

    pub fn parse(code: &str) -> Option<Unit> {
        Unit::ALL.into_iter().find(|u| u.code() == code)
    }

    pub fn is_metered(self) -> bool {
        self != Unit::Unmetered
    }

    /// The unit's name for people, in the plural.
    pub fn label(self, language: Language) -> &'static str {
        match (self, language) {
            (Unit::Incidents, Language::En) => "incidents",
            (Unit::Incidents, Language::Fr) => "incidents",
            (Unit::Participants, Language::En) => "participants",
            (Unit::Participants, Language::Fr) => "participants",
            (Unit::Downloads, Language::En) => "downloads",
            (Unit::Downloads, Language::Fr) => "téléchargements",
            (Unit::Licenses, Language::En) => "licenses",
            (Unit::Licenses, Language::Fr) => "licences",
            (Unit::PlanningDays, Language::En) => "planning days",
            (Unit::PlanningDays, Language::Fr) => "jours de planification",
            (Unit::TrainingDays, Language::En) => "training days",
            (Unit::TrainingDays, Language::Fr) => "jours de formation",
            (Unit::Unmetered, Language::En) => "not metered",
            (Unit::Unmetered, Language::Fr) => "non mesuré",
        }
    }

    /// The unit's name for one.
    pub fn singular(self, language: Language) -> &'static str {
        match (self, language) {
            (Unit::Incidents, _) => "incident",
            (Unit::Participants, _) => "participant",
            (Unit::Downloads, Language::En) => "download",
            (Unit::Downloads, Language::Fr) => "téléchargement",
            (Unit::Licenses, Language::En) => "license",
            (Unit::Licenses, Language::Fr) => "licence",
            (Unit::PlanningDays, Language::En) => "planning day",
            (Unit::PlanningDays, Language::Fr) => "jour de planification",
            (Unit::TrainingDays, Language::En) => "training day",
            (Unit::TrainingDays, Language::Fr) => "jour de formation",
            (Unit::Unmetered, Language::En) => "not metered",
            (Unit::Unmetered, Language::Fr) => "non mesuré",
        }
    }

    /// A count with the unit in the right number: "1 planning day", "3 jours de formation",
    /// "0 jour de formation" (French takes the singular below 2, English only for 1).
    pub fn count(self, n: i64, language: Language) -> String {
        let one = match language {
            Language::En => n.unsigned_abs() == 1,
            Language::Fr => n.unsigned_abs() < 2,
        };
        let name = if one {
            self.singular(language)
        } else {
            self.label(language)
        };
        format!("{n} {name}")
    }

    /// A sentence in both languages around a count: `{}` in `en` and `fr` stands for
    /// [`Unit::count`] in that language ("Back to the pool: {}").
    pub fn counted(self, n: i64, en: &str, fr: &str) -> Localized {
        Localized::new(
            en.replacen("{}", &self.count(n, Language::En), 1),
            fr.replacen("{}", &self.count(n, Language::Fr), 1),
        )
    }

    /// Whether the generic consumption operation applies (an incident opened, planning days
    /// scheduled). The other metered units are consumed by their own operations: users,
    /// downloads, vouchers.
    pub fn consumed_directly(self) -> bool {
        matches!(self, Unit::Incidents | Unit::PlanningDays)
    }
}

/// A catalog code such as `e_learning`: lower-case ASCII letters, digits and `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TypeCode(String);

impl TypeCode {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let ok = (2..=64).contains(&raw.len())
            && raw.starts_with(|c: char| c.is_ascii_lowercase())
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidValue {
                message: Localized::new(
                    "is not a benefit type code (example: e_learning)",
                    "n'est pas un code de type d'avantage (exemple : e_learning)",
                ),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TypeCode {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        TypeCode::parse(&value)
    }
}

impl From<TypeCode> for String {
    fn from(code: TypeCode) -> String {
        code.0
    }
}

/// What a benefit type does beyond its unit: who receives it and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Features {
    /// Administrators add named users (authorized contacts, participants, HUP users).
    pub takes_users: bool,
    /// Adding a user consumes one unit.
    pub user_consumes: bool,
    /// Removing a user gives the unit back (e-learning); otherwise it stays used (HUP).
    pub removal_releases: bool,
    /// Users must have an e-mail in one of the account's authorized domains.
    pub requires_authorized_domain: bool,
    /// The benefit has a program / access code that can be distributed to users.
    pub has_access_code: bool,
    /// The benefit has downloadable software; each recorded download consumes one.
    pub has_downloads: bool,
    /// The benefit has product keys.
    pub has_product_keys: bool,
}

/// One type of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenefitType {
    pub code: TypeCode,
    pub unit: Unit,
    /// Order in which the portal lists the types.
    pub position: i32,
    pub name: Localized,
    pub description: Localized,
    pub learn_more_url: String,
    pub admin_instructions: Localized,
    pub end_user_instructions: Localized,
    /// How the quantity is calculated.
    pub calculation: Localized,
    pub features: Features,
    /// The packages a download type offers.
    #[serde(default)]
    pub software: Vec<Software>,
    /// When an operator added it; `None` for the types the service shipped with. A partner's
    /// permission covers a type added after its approval only with `manage_future_benefits`.
    #[serde(default)]
    pub added_at: Option<DateTime<Utc>>,
}

/// What an operator gives to add a type to the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewType {
    pub code: TypeCode,
    pub unit: Unit,
    pub name: Localized,
    pub description: Localized,
    pub learn_more_url: String,
    pub admin_instructions: Localized,
    pub end_user_instructions: Localized,
    pub calculation: Localized,
    pub features: Features,
    pub software: Vec<Software>,
}

/// Why a type cannot be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("the code is taken")]
    CodeTaken { code: String },
    #[error("features that contradict each other")]
    InconsistentFeatures { reason: Localized },
}

impl Refusal for CatalogError {
    fn kind(&self) -> RefusalKind {
        match self {
            CatalogError::CodeTaken { .. } => RefusalKind::Conflict,
            CatalogError::InconsistentFeatures { .. } => RefusalKind::Rule,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            CatalogError::CodeTaken { .. } => "type_exists",
            CatalogError::InconsistentFeatures { .. } => "inconsistent_features",
        }
    }

    fn message(&self) -> Localized {
        match self {
            CatalogError::CodeTaken { code } => Localized::new(
                format!("The catalog already has a type {code}."),
                format!("Le catalogue a déjà un type {code}."),
            ),
            CatalogError::InconsistentFeatures { reason } => reason.clone(),
        }
    }
}

impl NewType {
    /// The type as it enters the catalog after the others, or why its features contradict
    /// each other or its unit: the rules of the units and features stay in code, so a type
    /// may only combine them the way they work.
    pub fn define(
        self,
        catalog: &Catalog,
        now: DateTime<Utc>,
    ) -> Result<BenefitType, CatalogError> {
        if catalog.get(&self.code).is_some() {
            return Err(CatalogError::CodeTaken {
                code: self.code.as_str().to_owned(),
            });
        }
        let f = self.features;
        let metered = self.unit.is_metered();
        let inconsistent = |en: &str, fr: &str| {
            Err(CatalogError::InconsistentFeatures {
                reason: Localized::new(en, fr),
            })
        };
        if (f.user_consumes || f.requires_authorized_domain) && !f.takes_users {
            return inconsistent(
                "user_consumes and requires_authorized_domain need takes_users.",
                "user_consumes et requires_authorized_domain demandent takes_users.",
            );
        }
        if f.removal_releases && !f.user_consumes {
            return inconsistent(
                "removal_releases needs user_consumes: only a consumed unit can be given back.",
                "removal_releases demande user_consumes : seule une unité consommée peut être rendue.",
            );
        }
        if (f.user_consumes || f.has_downloads) && !metered {
            return inconsistent(
                "An unmetered type cannot consume units (user_consumes, has_downloads).",
                "Un type non mesuré ne peut pas consommer d'unités (user_consumes, has_downloads).",
            );
        }
        if f.has_downloads != (self.unit == Unit::Downloads) {
            return inconsistent(
                "has_downloads goes with the unit downloads, and only with it.",
                "has_downloads va avec l'unité downloads, et seulement avec elle.",
            );
        }
        if f.has_downloads == self.software.is_empty() {
            return inconsistent(
                "A type with has_downloads lists its software packages; another lists none.",
                "Un type avec has_downloads liste ses logiciels ; un autre n'en liste aucun.",
            );
        }
        if self.software.iter().any(|s| s.keyed) && !f.has_product_keys {
            return inconsistent(
                "A package that needs a product key needs has_product_keys.",
                "Un logiciel qui demande une clé de produit demande has_product_keys.",
            );
        }
        if f.has_product_keys && !f.has_downloads {
            return inconsistent(
                "has_product_keys goes with has_downloads: keys belong to packages.",
                "has_product_keys va avec has_downloads : les clés appartiennent aux logiciels.",
            );
        }
        if matches!(
            self.unit,
            Unit::Incidents | Unit::PlanningDays | Unit::TrainingDays
        ) && f.user_consumes
        {
            return inconsistent(
                "Incidents and days are consumed by their own operations, not by adding users.",
                "Les incidents et les jours se consomment par leurs propres opérations, pas en ajoutant des utilisateurs.",
            );
        }
        let mut ids = std::collections::HashSet::new();
        if !self.software.iter().all(|s| ids.insert(s.id.as_str())) {
            return inconsistent(
                "Two software packages have the same id.",
                "Deux logiciels ont le même identifiant.",
            );
        }
        let position = catalog
            .types()
            .iter()
            .map(|t| t.position)
            .max()
            .unwrap_or(0)
            + 10;
        Ok(BenefitType {
            code: self.code,
            unit: self.unit,
            position,
            name: self.name,
            description: self.description,
            learn_more_url: self.learn_more_url,
            admin_instructions: self.admin_instructions,
            end_user_instructions: self.end_user_instructions,
            calculation: self.calculation,
            features: self.features,
            software: self.software,
            added_at: Some(now),
        })
    }
}

/// The whole catalog, in display order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    types: Vec<BenefitType>,
}

impl Catalog {
    pub fn new(mut types: Vec<BenefitType>) -> Self {
        types.sort_by(|a, b| a.position.cmp(&b.position).then(a.code.cmp(&b.code)));
        Self { types }
    }

    pub fn get(&self, code: &TypeCode) -> Option<&BenefitType> {
        self.types.iter().find(|t| &t.code == code)
    }

    pub fn find(&self, code: &str) -> Option<&BenefitType> {
        self.types.iter().find(|t| t.code.as_str() == code)
    }

    pub fn types(&self) -> &[BenefitType] {
        &self.types
    }
}

/// The built-in codes the rules refer to by name.
pub mod codes {
    pub const TRAINING_VOUCHERS: &str = "training_vouchers";
    pub const PLANNING_SERVICES: &str = "planning_services";
}

struct Texts {
    code: &'static str,
    unit: Unit,
    name: (&'static str, &'static str),
    description: (&'static str, &'static str),
    url: &'static str,
    admin: (&'static str, &'static str),
    end_user: (&'static str, &'static str),
    calculation: (&'static str, &'static str),
    features: Features,
}

fn loc(pair: (&str, &str)) -> Localized {
    Localized::new(pair.0, pair.1)
}

const SUPPORT: Features = Features {
    takes_users: true,
    user_consumes: false,
    removal_releases: false,
    requires_authorized_domain: false,
    has_access_code: false,
    has_downloads: false,
    has_product_keys: false,
};

const DOWNLOADS: Features = Features {
    takes_users: false,
    user_consumes: false,
    removal_releases: false,
    requires_authorized_domain: false,
    has_access_code: false,
    has_downloads: true,
    has_product_keys: false,
};

const SUPPORT_ADMIN: (&str, &str) = (
    "Add the people allowed to open support requests as authorized contacts of this benefit. Each incident opened with Microsoft support uses one incident of the benefit.",
    "Ajoutez comme contacts autorisés les personnes habilitées à ouvrir des demandes de support. Chaque incident ouvert auprès du support Microsoft utilise un incident de l'avantage.",
);

const SUPPORT_CALCULATION: (&str, &str) = (
    "Incidents are granted from the number of qualifying Software Assurance licences on the purchasing account (for example, 1 incident per 1,000 qualifying licences, plus the incidents recorded by the operator). Each incident opened uses one.",
    "Les incidents sont accordés selon le nombre de licences Software Assurance admissibles du compte d'achats (par exemple, 1 incident par tranche de 1 000 licences admissibles, plus les incidents enregistrés par l'opérateur). Chaque incident ouvert en utilise un.",
);

/// The ten types of the catalog as shipped. The database is filled from this list; the
/// service then reads the catalog from the database.
pub fn builtin_catalog() -> Catalog {
    let all = [
        Texts {
            code: "problem_resolution_phone",
            unit: Unit::Incidents,
            name: ("24x7 Problem Resolution Support – Phone", "Résolution des problèmes 24/7 – Téléphone"),
            description: (
                "Problem-resolution requests opened 24x7 by telephoning Microsoft support or on Microsoft's support site, for all Microsoft Server, Windows and Office products and editions.",
                "Demandes de résolution de problèmes ouvertes 24/7 en appelant le support Microsoft ou sur le site de support de Microsoft, pour tous les produits et éditions Microsoft Server, Windows et Office.",
            ),
            url: "http://www.microsoft.com/licensing/software-assurance/support.aspx",
            admin: SUPPORT_ADMIN,
            end_user: (
                "You are an authorized contact for 24x7 Problem Resolution Support by phone. Call Microsoft support at the number for your country, give your name and your organization's name — support finds you among its authorized contacts — and describe the problem to open an incident.",
                "Vous êtes contact autorisé pour la Résolution des problèmes 24/7 par téléphone. Appelez le support Microsoft au numéro de votre pays, donnez votre nom et celui de votre organisation — le support vous retrouve parmi ses contacts autorisés — et décrivez le problème pour ouvrir un incident.",
            ),
            calculation: SUPPORT_CALCULATION,
            features: SUPPORT,
        },
        Texts {
            code: "problem_resolution_web",
            unit: Unit::Incidents,
            name: ("24x7 Problem Resolution Support – Web", "Résolution des problèmes 24/7 – Web"),
            description: (
                "Problem-resolution requests opened 24x7 over the Internet on Microsoft's support site: select the Microsoft product you need help with.",
                "Demandes de résolution de problèmes ouvertes 24/7 par Internet sur le site de support de Microsoft : choisissez le produit Microsoft pour lequel vous avez besoin d'aide.",
            ),
            url: "http://www.microsoft.com/licensing/software-assurance/support.aspx",
            admin: SUPPORT_ADMIN,
            end_user: (
                "You are an authorized contact for 24x7 Problem Resolution Support on the web. Sign in to the support site with this e-mail address to open an incident.",
                "Vous êtes contact autorisé pour la Résolution des problèmes 24/7 sur le Web. Connectez-vous au site du support avec cette adresse e-mail pour ouvrir un incident.",
            ),
            calculation: SUPPORT_CALCULATION,
            features: SUPPORT,
        },
        Texts {
            code: "e_learning",
            unit: Unit::Participants,
            name: ("E-Learning", "Formation en ligne"),
            description: (
                "Interactive, self-paced online training on a selection of Microsoft technologies, so employees are more productive with the software they use today and ready for new versions.",
                "Formation en ligne interactive, à son rythme, sur une sélection de technologies Microsoft, pour que les employés soient plus productifs avec les logiciels actuels et prêts pour les nouvelles versions.",
            ),
            url: "http://www.microsoft.com/learning/sa",
            admin: (
                "Authorize at least one e-mail domain of your organization, then enroll participants with their work e-mail. Each participant uses one seat; removing a participant frees the seat.",
                "Autorisez au moins un domaine de messagerie de votre organisation, puis inscrivez les participants avec leur e-mail professionnel. Chaque participant utilise une place ; retirer un participant libère la place.",
            ),
            end_user: (
                "You have been enrolled in Microsoft E-Learning. Sign in to the E-Learning portal with your work e-mail address to start your courses.",
                "Vous avez été inscrit à la Formation en ligne Microsoft. Connectez-vous au portail avec votre adresse e-mail professionnelle pour commencer vos cours.",
            ),
            calculation: (
                "Participant seats are granted from the number of qualifying desktop licences with Software Assurance. Each enrolled participant uses one seat; removing a participant gives it back.",
                "Les places sont accordées selon le nombre de licences de poste de travail admissibles avec Software Assurance. Chaque participant inscrit utilise une place ; le retrait d'un participant la rend.",
            ),
            features: Features {
                takes_users: true,
                user_consumes: true,
                removal_releases: true,
                requires_authorized_domain: true,
                ..Features::default()
            },
        },
        Texts {
            code: "global_service_monitor",
            unit: Unit::Downloads,
            name: ("Global Service Monitor", "Analyse globale des services"),
            description: (
                "A System Center service for Software Assurance customers only: a cloud service that extends the application monitoring of System Center 2012 beyond your network, using Windows Azure points of presence to measure what the users of a web application really experience.",
                "Un service System Center réservé aux clients Software Assurance : un service cloud qui étend la surveillance des applications de System Center 2012 au-delà de votre réseau, en mesurant depuis les points de présence Windows Azure l'expérience réelle des utilisateurs d'une application web.",
            ),
            url: "https://www.microsoft.com/en-us/Licensing/licensing-programs/software-assurance-by-product.aspx",
            admin: (
                "Download the Global Service Monitor management pack and import it into your monitoring server. Each recorded download uses one of the benefit's downloads.",
                "Téléchargez le pack d'administration Global Service Monitor et importez-le dans votre serveur de supervision. Chaque téléchargement enregistré utilise un téléchargement de l'avantage.",
            ),
            end_user: (
                "Your administrator has made Global Service Monitor available. Ask them for access to the monitoring console.",
                "Votre administrateur a mis l'Analyse globale des services à disposition. Demandez-lui l'accès à la console de supervision.",
            ),
            calculation: (
                "Downloads are granted from the number of qualifying server licences with Software Assurance. Each recorded download uses one.",
                "Les téléchargements sont accordés selon le nombre de licences serveur admissibles avec Software Assurance. Chaque téléchargement enregistré en utilise un.",
            ),
            features: DOWNLOADS,
        },
        Texts {
            code: "home_use_program",
            unit: Unit::Licenses,
            name: ("Home Use Program (HUP)", "Programme d'utilisation à domicile"),
            description: (
                "Employees download the latest Office suite or applications at low cost for their personal computer: the same software at home and at work builds skills and productivity.",
                "Les employés téléchargent à faible coût la dernière suite Office ou ses applications pour leur ordinateur personnel : le même logiciel à la maison et au travail développe compétences et productivité.",
            ),
            url: "http://www.microsoft.com/licensing/software-assurance/home-use-program.aspx",
            admin: (
                "Authorize your organization's e-mail domains, then distribute the program code to eligible employees. Each employee who receives the code uses one licence, which stays used.",
                "Autorisez les domaines de messagerie de votre organisation, puis distribuez le code du programme aux employés admissibles. Chaque employé qui reçoit le code utilise une licence, qui reste utilisée.",
            ),
            end_user: (
                "Your employer offers the Microsoft Home Use Program. Go to the Home Use Program site and enter your work e-mail address and your program code (given with these instructions, or sent to you by your administrator) to order Office for home.",
                "Votre employeur propose le Programme d'utilisation à domicile Microsoft. Rendez-vous sur le site du programme et saisissez votre adresse e-mail professionnelle et votre code de programme (joint à ces instructions, ou envoyé par votre administrateur) pour commander Office pour la maison.",
            ),
            calculation: (
                "Licences equal the number of qualifying Office licences with Software Assurance. Each user the program code is distributed to uses one licence; removing the user does not give it back.",
                "Le nombre de licences est égal au nombre de licences Office admissibles avec Software Assurance. Chaque utilisateur qui reçoit le code du programme utilise une licence ; le retrait de l'utilisateur ne la rend pas.",
            ),
            features: Features {
                takes_users: true,
                user_consumes: true,
                removal_releases: false,
                requires_authorized_domain: true,
                has_access_code: true,
                ..Features::default()
            },
        },
        Texts {
            code: "dynamics_customersource",
            unit: Unit::Unmetered,
            name: ("Microsoft Dynamics CustomerSource", "Microsoft Dynamics CustomerSource"),
            description: (
                "An online portal made for Microsoft Dynamics customers: round-the-clock access to tools and resources, expert advice and proactive tools that drive user adoption and productivity.",
                "Un portail en ligne conçu pour les clients Microsoft Dynamics : accès 24 h/24 aux outils et ressources, conseils d'experts et outils proactifs qui favorisent l'adoption par les utilisateurs et la productivité.",
            ),
            url: "http://www.microsoft.com/dynamics/customer/en-us/access-customersource/default.aspx",
            admin: (
                "CustomerSource is available to everyone in your organization. Share the sign-in instructions with the people who need it; nothing is counted.",
                "CustomerSource est accessible à toute votre organisation. Partagez les instructions de connexion avec les personnes concernées ; rien n'est décompté.",
            ),
            end_user: (
                "Sign in to CustomerSource with your work account to reach Dynamics updates, training and the knowledge base.",
                "Connectez-vous à CustomerSource avec votre compte professionnel pour accéder aux mises à jour, à la formation et à la base de connaissances Dynamics.",
            ),
            calculation: (
                "This benefit is not metered: there is no quantity, and nothing is used or remaining.",
                "Cet avantage n'est pas mesuré : il n'a pas de quantité, et rien n'est utilisé ni restant.",
            ),
            features: Features::default(),
        },
        Texts {
            code: "multi_language_pack",
            unit: Unit::Downloads,
            name: ("Office Multi-Language Pack", "Module multilingue pour Microsoft Office"),
            description: (
                "Deploy one single Office image with user interfaces in 40 languages, with proofing tools and standalone online features for people who create or edit content: Office in the language of each user's choice.",
                "Déployez une seule image d'Office avec des interfaces dans 40 langues, avec outils de vérification linguistique et fonctionnalités en ligne autonomes pour ceux qui créent ou modifient du contenu : Office dans la langue choisie par chacun.",
            ),
            url: "https://www.microsoft.com/en-us/Licensing/licensing-programs/software-assurance-by-product.aspx",
            admin: (
                "Download the language packs you need and deploy them with the product key shown here. Each recorded download uses one.",
                "Téléchargez les modules linguistiques nécessaires et déployez-les avec la clé de produit affichée ici. Chaque téléchargement enregistré en utilise un.",
            ),
            end_user: (
                "Your administrator will install the Office language packs on your computer.",
                "Votre administrateur installera les modules linguistiques d'Office sur votre ordinateur.",
            ),
            calculation: (
                "Downloads are granted from the number of qualifying Office licences with Software Assurance. Each recorded download uses one.",
                "Les téléchargements sont accordés selon le nombre de licences Office admissibles avec Software Assurance. Chaque téléchargement enregistré en utilise un.",
            ),
            features: Features {
                has_product_keys: true,
                ..DOWNLOADS
            },
        },
        Texts {
            code: "planning_services",
            unit: Unit::PlanningDays,
            name: ("Planning Services", "Services de planification"),
            description: (
                "On-site expertise from deployment-planning consultants to plan your next deployment of Microsoft technologies, on premises, in the cloud or hybrid.",
                "L'expertise sur site de consultants en planification de déploiement pour préparer votre prochain déploiement de technologies Microsoft, sur site, dans le cloud ou en hybride.",
            ),
            url: "http://www.microsoft.com/licensing/software-assurance/planning-services-overview.aspx",
            admin: (
                "Choose a qualified partner and schedule the engagement; each day scheduled uses one planning day. Training days can be converted into planning days (3 training days = 1 planning day).",
                "Choisissez un partenaire qualifié et planifiez la mission ; chaque jour planifié utilise un jour de planification. Des jours de formation peuvent être convertis en jours de planification (3 jours de formation = 1 jour de planification).",
            ),
            end_user: (
                "A Planning Services engagement has been scheduled for your project. The partner will contact you to agree the dates.",
                "Une mission de Services de planification a été planifiée pour votre projet. Le partenaire vous contactera pour convenir des dates.",
            ),
            calculation: (
                "Planning days are granted from the value of the Software Assurance agreement (the operator records the qualifying spend and licence counts), plus 1 planning day for every 3 training days converted, minus the days converted back.",
                "Les jours de planification sont accordés selon la valeur du contrat Software Assurance (l'opérateur enregistre les montants et nombres de licences admissibles), plus 1 jour pour 3 jours de formation convertis, moins les jours reconvertis.",
            ),
            features: Features::default(),
        },
        Texts {
            code: "training_vouchers",
            unit: Unit::TrainingDays,
            name: ("Training Vouchers", "Bons de formation"),
            description: (
                "IT staff take in-depth courses designed by Microsoft experts and delivered by Microsoft training partners, to deploy, manage and support new software.",
                "Le personnel informatique suit des cours approfondis conçus par des experts Microsoft et dispensés par des partenaires de formation Microsoft, pour déployer, gérer et prendre en charge les nouveaux logiciels.",
            ),
            url: "http://www.microsoft.com/licensing/software-assurance/training-vouchers.aspx",
            admin: (
                "Assign vouchers of 1 to 5 days to named employees for a course. A voucher not redeemed within 180 days expires and its days come back while the benefit is active.",
                "Attribuez des bons de 1 à 5 jours à des employés nommés pour un cours. Un bon non utilisé dans les 180 jours expire et ses jours reviennent tant que l'avantage est actif.",
            ),
            end_user: (
                "You have received a Microsoft training voucher. Book your course with a certified learning partner and give them the voucher number before the expiry date.",
                "Vous avez reçu un bon de formation Microsoft. Réservez votre cours auprès d'un partenaire de formation certifié et communiquez-lui le numéro du bon avant sa date d'expiration.",
            ),
            calculation: (
                "Training days are granted from the number of qualifying licences with Software Assurance. Vouchers use the days put on them; 3 training days convert into 1 planning day.",
                "Les jours de formation sont accordés selon le nombre de licences admissibles avec Software Assurance. Les bons utilisent les jours qui y figurent ; 3 jours de formation se convertissent en 1 jour de planification.",
            ),
            features: Features::default(),
        },
        Texts {
            code: "windows_thin_pc",
            unit: Unit::Downloads,
            name: ("Windows Thin PC", "Windows Thin PC"),
            description: (
                "Turns existing PCs into thin clients with a locked-down, reduced version of Windows 7.",
                "Transforme des PC existants en clients légers grâce à une version réduite et verrouillée de Windows 7.",
            ),
            url: "http://www.microsoft.com/windows/enterprise/products/windows-7/default.aspx",
            admin: (
                "Download the Windows Thin PC image and deploy it with the product key shown here. Each recorded download uses one.",
                "Téléchargez l'image Windows Thin PC et déployez-la avec la clé de produit affichée ici. Chaque téléchargement enregistré en utilise un.",
            ),
            end_user: (
                "Your administrator will install Windows Thin PC on your device.",
                "Votre administrateur installera Windows Thin PC sur votre appareil.",
            ),
            calculation: (
                "Downloads are granted from the number of Windows desktop licences with Software Assurance. Each recorded download uses one.",
                "Les téléchargements sont accordés selon le nombre de licences Windows de poste de travail avec Software Assurance. Chaque téléchargement enregistré en utilise un.",
            ),
            features: Features {
                has_product_keys: true,
                ..DOWNLOADS
            },
        },
    ];
    Catalog::new(
        all.into_iter()
            .zip(1..)
            .map(|(t, position)| BenefitType {
                code: TypeCode::parse(t.code).expect("built-in codes are valid"),
                unit: t.unit,
                position: position * 10,
                name: loc(t.name),
                description: loc(t.description),
                learn_more_url: t.url.to_owned(),
                admin_instructions: loc(t.admin),
                end_user_instructions: loc(t.end_user),
                calculation: loc(t.calculation),
                features: t.features,
                software: builtin_software(t.code),
                added_at: None,
            })
            .collect(),
    )
}

/// One downloadable package of a software benefit: catalog data, part of its type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Software {
    /// Stable id, passed as `software_id` to record a download.
    pub id: String,
    pub name: Localized,
    pub version: String,
    /// `multilingual` or a language code (`en`, `fr`, …).
    pub language: String,
    pub size_mb: u32,
    /// Whether the package needs a product key.
    pub keyed: bool,
}

/// Where Software Assurance customers download their software and find their keys: the
/// Volume Licensing Service Center's downloads page (signed in with the organization's account).
pub const DOWNLOAD_CENTER: &str =
    "https://www.microsoft.com/Licensing/servicecenter/Downloads/DownloadsAndKeys.aspx";

impl Software {
    /// Where the package is downloaded.
    pub fn download_url(&self) -> &'static str {
        DOWNLOAD_CENTER
    }

    /// The package's language for people.
    pub fn language_label(&self) -> Localized {
        match self.language.as_str() {
            "multilingual" => Localized::new("Multilingual", "Multilingue"),
            "en" => Localized::new("English", "Anglais"),
            "fr" => Localized::new("French", "Français"),
            other => Localized::same(other),
        }
    }
}

fn sw(
    id: &str,
    name: Localized,
    version: &str,
    language: &str,
    size_mb: u32,
    keyed: bool,
) -> Software {
    Software {
        id: id.to_owned(),
        name,
        version: version.to_owned(),
        language: language.to_owned(),
        size_mb,
        keyed,
    }
}

/// The software the built-in types offer for download (none for the others).
pub fn builtin_software(code: &str) -> Vec<Software> {
    match code {
        "global_service_monitor" => vec![
            sw(
                "gsm-agent-x64",
                Localized::new(
                    "Global Service Monitor agent (x64)",
                    "Agent Global Service Monitor (x64)",
                ),
                "2.4",
                "multilingual",
                38,
                false,
            ),
            sw(
                "gsm-management-pack",
                Localized::new(
                    "Global Service Monitor management pack",
                    "Pack d'administration Global Service Monitor",
                ),
                "2.4",
                "multilingual",
                6,
                false,
            ),
        ],
        "multi_language_pack" => vec![
            sw(
                "mlp-2024-x64",
                Localized::new(
                    "Office Multi-Language Pack 2024 (x64)",
                    "Module multilingue pour Office 2024 (x64)",
                ),
                "2024",
                "multilingual",
                3_900,
                true,
            ),
            sw(
                "mlp-2021-x64",
                Localized::new(
                    "Office Multi-Language Pack 2021 (x64)",
                    "Module multilingue pour Office 2021 (x64)",
                ),
                "2021",
                "multilingual",
                3_650,
                true,
            ),
        ],
        "windows_thin_pc" => vec![
            sw(
                "wtp-x86-en",
                Localized::new(
                    "Windows Thin PC (x86), English",
                    "Windows Thin PC (x86), anglais",
                ),
                "2011 SP1",
                "en",
                2_300,
                true,
            ),
            sw(
                "wtp-x86-fr",
                Localized::new(
                    "Windows Thin PC (x86), French",
                    "Windows Thin PC (x86), français",
                ),
                "2011 SP1",
                "fr",
                2_350,
                true,
            ),
        ],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(t: &BenefitType, code: &str) -> NewType {
        NewType {
            code: TypeCode::parse(code).unwrap(),
            unit: t.unit,
            name: t.name.clone(),
            description: t.description.clone(),
            learn_more_url: t.learn_more_url.clone(),
            admin_instructions: t.admin_instructions.clone(),
            end_user_instructions: t.end_user_instructions.clone(),
            calculation: t.calculation.clone(),
            features: t.features,
            software: t.software.clone(),
        }
    }

    #[test]
    fn every_builtin_type_could_be_added_as_data() {
        let now = chrono::Utc::now();
        let empty = Catalog::new(vec![]);
        for t in builtin_catalog().types() {
            let added = draft(t, t.code.as_str()).define(&empty, now).unwrap();
            assert_eq!(added.added_at, Some(now));
            assert_eq!((added.features, &added.software), (t.features, &t.software));
        }
    }

    #[test]
    fn a_new_type_comes_last_and_contradictions_are_refused() {
        let now = chrono::Utc::now();
        let catalog = builtin_catalog();
        let e_learning = catalog.find("e_learning").unwrap();
        let taken = draft(e_learning, "e_learning").define(&catalog, now);
        assert_eq!(taken.unwrap_err().code(), "type_exists");
        let added = draft(e_learning, "azure_learning")
            .define(&catalog, now)
            .unwrap();
        assert!(catalog.types().iter().all(|t| t.position < added.position));
        let mut orphan = draft(e_learning, "orphan_users");
        orphan.features.takes_users = false;
        assert_eq!(
            orphan.define(&catalog, now).unwrap_err().code(),
            "inconsistent_features"
        );
        let wtp = catalog.find("windows_thin_pc").unwrap();
        let mut no_packages = draft(wtp, "thin_client");
        no_packages.software.clear();
        assert_eq!(
            no_packages.define(&catalog, now).unwrap_err().code(),
            "inconsistent_features"
        );
        let mut keys_without_flag = draft(wtp, "thin_client");
        keys_without_flag.features.has_product_keys = false;
        assert_eq!(
            keys_without_flag.define(&catalog, now).unwrap_err().code(),
            "inconsistent_features"
        );
        let mut unmetered_downloads = draft(wtp, "thin_client");
        unmetered_downloads.unit = Unit::Unmetered;
        assert_eq!(
            unmetered_downloads
                .define(&catalog, now)
                .unwrap_err()
                .code(),
            "inconsistent_features"
        );
    }

    #[test]
    fn the_builtin_catalog_has_the_ten_types_with_their_units() {
        let catalog = builtin_catalog();
        let expected = [
            ("problem_resolution_phone", Unit::Incidents),
            ("problem_resolution_web", Unit::Incidents),
            ("e_learning", Unit::Participants),
            ("global_service_monitor", Unit::Downloads),
            ("home_use_program", Unit::Licenses),
            ("dynamics_customersource", Unit::Unmetered),
            ("multi_language_pack", Unit::Downloads),
            ("planning_services", Unit::PlanningDays),
            ("training_vouchers", Unit::TrainingDays),
            ("windows_thin_pc", Unit::Downloads),
        ];
        assert_eq!(catalog.types().len(), 10);
        for (code, unit) in expected {
            assert_eq!(catalog.find(code).map(|t| t.unit), Some(unit), "{code}");
        }
    }

    #[test]
    fn every_type_has_every_text_in_both_languages() {
        for t in builtin_catalog().types() {
            for text in [
                &t.name,
                &t.description,
                &t.admin_instructions,
                &t.end_user_instructions,
                &t.calculation,
            ] {
                for language in Language::ALL {
                    assert!(
                        !text.get(language).trim().is_empty(),
                        "{} lacks a {language:?} text",
                        t.code.as_str()
                    );
                }
            }
            assert!(t.learn_more_url.starts_with("http"));
        }
    }

    #[test]
    fn feature_flags_follow_the_product_rules() {
        let catalog = builtin_catalog();
        let e_learning = catalog.find("e_learning").unwrap().features;
        assert!(
            e_learning.user_consumes
                && e_learning.removal_releases
                && e_learning.requires_authorized_domain
        );
        let hup = catalog.find("home_use_program").unwrap().features;
        assert!(
            hup.user_consumes
                && !hup.removal_releases
                && hup.requires_authorized_domain
                && hup.has_access_code
        );
        let phone = catalog.find("problem_resolution_phone").unwrap().features;
        assert!(phone.takes_users && !phone.user_consumes);
        for code in ["multi_language_pack", "windows_thin_pc"] {
            assert!(catalog.find(code).unwrap().features.has_product_keys);
        }
    }

    #[test]
    fn type_codes_and_units_round_trip() {
        assert!(TypeCode::parse("E_learning").is_err());
        assert!(TypeCode::parse("x").is_err());
        for unit in Unit::ALL {
            assert_eq!(Unit::parse(unit.code()), Some(unit));
        }
    }

    /// PRODUCT.md §3: each description carries its type's facts in both languages, and the
    /// "learn more" link is exactly the guide's.
    #[test]
    fn descriptions_carry_the_guides_facts_and_links() {
        let catalog = builtin_catalog();
        let facts: [(&str, &[&str], &[&str], &str); 10] = [
            ("problem_resolution_phone", &["24x7", "telephoning", "support site", "Server, Windows and Office"], &["24/7", "appelant", "site de support", "Server, Windows et Office"], "http://www.microsoft.com/licensing/software-assurance/support.aspx"),
            ("problem_resolution_web", &["over the Internet", "support site", "select the Microsoft product"], &["par Internet", "site de support", "choisissez le produit"], "http://www.microsoft.com/licensing/software-assurance/support.aspx"),
            ("e_learning", &["Interactive", "self-paced", "online", "Microsoft technologies", "new versions"], &["interactive", "à son rythme", "en ligne", "technologies Microsoft", "nouvelles versions"], "http://www.microsoft.com/learning/sa"),
            ("global_service_monitor", &["System Center", "Software Assurance customers only", "cloud", "System Center 2012", "Windows Azure", "web application"], &["System Center", "réservé aux clients Software Assurance", "cloud", "System Center 2012", "Windows Azure", "application web"], "https://www.microsoft.com/en-us/Licensing/licensing-programs/software-assurance-by-product.aspx"),
            ("home_use_program", &["latest Office", "low cost", "personal computer", "at home and at work"], &["dernière suite Office", "faible coût", "ordinateur personnel", "à la maison et au travail"], "http://www.microsoft.com/licensing/software-assurance/home-use-program.aspx"),
            ("dynamics_customersource", &["online portal", "Microsoft Dynamics customers", "round-the-clock", "expert advice", "proactive tools", "adoption"], &["portail en ligne", "clients Microsoft Dynamics", "24 h/24", "conseils d'experts", "outils proactifs", "adoption"], "http://www.microsoft.com/dynamics/customer/en-us/access-customersource/default.aspx"),
            ("multi_language_pack", &["single Office image", "40 languages", "proofing tools", "standalone online features", "language of each user's choice"], &["seule image d'Office", "40 langues", "outils de vérification", "fonctionnalités en ligne autonomes", "langue choisie"], "https://www.microsoft.com/en-us/Licensing/licensing-programs/software-assurance-by-product.aspx"),
            ("planning_services", &["On-site", "deployment-planning consultants", "on premises, in the cloud or hybrid"], &["sur site", "consultants en planification de déploiement", "dans le cloud ou en hybride"], "http://www.microsoft.com/licensing/software-assurance/planning-services-overview.aspx"),
            ("training_vouchers", &["IT staff", "designed by Microsoft experts", "Microsoft training partners", "deploy, manage and support"], &["personnel informatique", "conçus par des experts Microsoft", "partenaires de formation Microsoft", "déployer, gérer et prendre en charge"], "http://www.microsoft.com/licensing/software-assurance/training-vouchers.aspx"),
            ("windows_thin_pc", &["existing PCs", "thin clients", "locked-down", "Windows 7"], &["PC existants", "clients légers", "verrouillée", "Windows 7"], "http://www.microsoft.com/windows/enterprise/products/windows-7/default.aspx"),
        ];
        for (code, english, french, link) in facts {
            let t = catalog.find(code).unwrap_or_else(|| panic!("{code}"));
            for fact in english {
                assert!(
                    t.description.en.contains(fact),
                    "{code}: {fact:?} in {:?}",
                    t.description.en
                );
            }
            for fact in french {
                assert!(
                    t.description.fr.contains(fact),
                    "{code}: {fact:?} in {:?}",
                    t.description.fr
                );
            }
            assert_eq!(t.learn_more_url, link, "{code}");
        }
    }
}
