//! The end-to-end suite in one test binary: one link instead of one per file, and the tests of
//! every file share the test threads (each file was its own binary, run one after another).
//! Each file stays a module of its own, where the documentation points.

#[path = "answers.rs"]
mod answers;
#[path = "authentication.rs"]
mod authentication;
#[path = "benefits.rs"]
mod benefits;
#[path = "catalog.rs"]
mod catalog;
#[path = "conventions.rs"]
mod conventions;
#[path = "coordination.rs"]
mod coordination;
#[path = "directory.rs"]
mod directory;
#[path = "enforcement.rs"]
mod enforcement;
#[path = "events.rs"]
mod events;
#[path = "hardening.rs"]
mod hardening;
#[path = "languages.rs"]
mod languages;
#[path = "ledger.rs"]
mod ledger;
#[path = "people.rs"]
mod people;
#[path = "permissions.rs"]
mod permissions;
#[path = "protocol.rs"]
mod protocol;
#[path = "training.rs"]
mod training;
#[path = "use_cases.rs"]
mod use_cases;

/// A file added to `tests/tests/` runs only once it is named above (`autotests = false`).
#[test]
fn every_file_of_the_folder_is_a_module_of_the_suite() {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let suite = std::fs::read_to_string(folder.join("end_to_end.rs")).expect("the suite's file");
    let mut files = 0;
    for entry in std::fs::read_dir(&folder).expect("tests/tests") {
        let path = entry.expect("an entry").path();
        let Some(name) = path.file_stem().and_then(|n| n.to_str()) else {
            continue;
        };
        if path.extension().is_some_and(|e| e == "rs") && name != "end_to_end" {
            files += 1;
            assert!(
                suite.contains(&format!("#[path = \"{name}.rs\"]\nmod {name};")),
                "tests/tests/{name}.rs is not a module of tests/tests/end_to_end.rs: it never runs"
            );
        }
    }
    assert!(files > 0, "no test file found in {}", folder.display());
}
