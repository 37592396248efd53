//! The house's plan, checked: every `crate::` import of a file under src/ points to its own
//! module, to one in its layer or to a lower one; no two modules import each other; and
//! nothing above the service layer reaches the database except for its error type. And the
//! mock provider (crates/mock-provider) stays out of the production library and binary.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top to bottom. A module may import from its own layer and the layers below it.
const LAYERS: &[&[&str]] = &[
    &["main", "startup", "bin"],
    &["web", "worker"],
    // The service layer: the only callers of the database.
    &["integrations", "accounts", "api_tokens", "operations"],
    // Webhook ingestion (verify, route, store), under the services.
    &["webhooks"],
    &["context"],
    &["runtime"],
    &["db", "oauth"],
    &["providers", "metrics", "telemetry"],
    &["config"],
    &["domain", "crypto"],
];

fn layer_of(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|layer| layer.contains(&module))
        .unwrap_or_else(|| panic!("module `{module}` is in no layer: add it to LAYERS"))
}

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The modules a file's code (its unit tests left out) names through `crate::`.
fn imports(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    code.match_indices("crate::")
        .filter(|(at, _)| {
            // `crate::x`, not `some_crate::x`.
            !code[..*at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
        .map(|(at, _)| {
            code[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

#[test]
fn every_import_points_down_and_no_modules_import_each_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    let mut wrong = Vec::new();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let relative = file
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if relative == "src/lib.rs" {
            continue;
        }
        let module = relative
            .trim_start_matches("src/")
            .split(['/', '.'])
            .next()
            .unwrap()
            .to_owned();
        let text = std::fs::read_to_string(file).unwrap();
        for target in imports(&text) {
            if target == module {
                continue;
            }
            if layer_of(&target) < layer_of(&module) {
                wrong.push(format!("{relative} imports crate::{target}, a higher layer"));
            }
            edges.entry(module.clone()).or_default().insert(target);
        }
        let above_services = layer_of(&module) < layer_of("integrations");
        let database = text
            .match_indices("crate::db")
            .any(|(at, _)| !text[at..].starts_with("crate::db::DbError"));
        if above_services && database {
            wrong.push(format!(
                "{relative} uses the database directly; go through the service layer"
            ));
        }
    }
    for (module, targets) in &edges {
        for target in targets {
            if edges.get(target).is_some_and(|back| back.contains(module)) && module < target {
                wrong.push(format!("{module} and {target} import each other"));
            }
        }
    }
    assert!(wrong.is_empty(), "the layers are broken:\n{}", wrong.join("\n"));
}

#[test]
fn the_check_sees_what_it_must() {
    let seen = imports(
        "use crate::db::DbError;\nlet x = other_crate::y;\n#[cfg(test)]\nmod tests {\n use crate::web;\n}",
    );
    assert_eq!(seen, BTreeSet::from(["db".to_owned()]));
    assert!(layer_of("web") < layer_of("integrations"));
    assert!(layer_of("integrations") < layer_of("db"));
}

/// A status or kind written as a string literal where it is compared or stored: the text of
/// an enum value belongs to `domain` (its `text_enum!`) alone.
fn status_literals(text: &str) -> Vec<String> {
    const OPERATORS: [&str; 4] = [" == \"", " != \"", ".eq(\"", ".ne(\""];
    text.lines()
        .filter(|line| {
            let line = line.trim();
            let compared = OPERATORS.iter().any(|op| {
                line.split(op).next().is_some_and(|left| {
                    left.len() < line.len() && (left.ends_with("status") || left.ends_with("kind"))
                })
            });
            compared || line.starts_with("status: \"") || line.starts_with("kind: \"")
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn statuses_and_kinds_are_typed_outside_the_domain() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    let mut found = Vec::new();
    for file in files.iter().filter(|f| !f.starts_with(root.join("src/domain"))) {
        let text = std::fs::read_to_string(file).unwrap();
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(&text);
        for line in status_literals(code) {
            found.push(format!("{}: {line}", file.display()));
        }
    }
    for entry in std::fs::read_dir(root.join("templates")).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        for line in status_literals(&text.replace(" %}", "\n")) {
            found.push(format!("{}: {line}", entry.path().display()));
        }
    }
    assert!(found.is_empty(), "status or kind literals:\n{}", found.join("\n"));
}

#[test]
fn the_literal_check_sees_what_it_must() {
    for line in [
        "if row.status == \"connected\" {",
        ".filter(i::status.ne(\"disconnected\"))",
        "status: \"active\",",
        "{% if e.kind == \"webhook_event\"",
    ] {
        assert_eq!(status_literals(line).len(), 1, "{line}");
    }
    for line in [
        "if row.status == IntegrationStatus::Connected {",
        "json!({ \"status\": w.status })",
        "let label = \"connected\";",
    ] {
        assert!(status_literals(line).is_empty(), "{line}");
    }
}

/// The tables of a manifest that name dependencies: `<kind>` at the top and under each
/// `[target.'cfg(...)']`, as (where, kind, table).
fn dependency_tables(manifest: &toml::Table) -> Vec<(String, &'static str, &toml::Table)> {
    const KINDS: [&str; 3] = ["dependencies", "dev-dependencies", "build-dependencies"];
    let mut found = Vec::new();
    for kind in KINDS {
        if let Some(table) = manifest.get(kind).and_then(toml::Value::as_table) {
            found.push((String::new(), kind, table));
        }
    }
    for (target, value) in manifest
        .get("target")
        .and_then(toml::Value::as_table)
        .into_iter()
        .flatten()
    {
        for kind in KINDS {
            if let Some(table) = value.get(kind).and_then(toml::Value::as_table) {
                found.push((format!("target.{target}."), kind, table));
            }
        }
    }
    found
}

/// Where a manifest names the mock provider other than in `[dev-dependencies]`, and whether it
/// names it there.
fn mock_outside_dev_dependencies(manifest: &str) -> (Vec<String>, bool) {
    let manifest: toml::Table = manifest.parse().unwrap();
    let mut wrong = Vec::new();
    let mut as_dev = false;
    for (place, kind, table) in dependency_tables(&manifest) {
        // A dependency may be renamed (`mock = { package = "mock-provider", ... }`).
        let names_mock = table.iter().any(|(name, spec)| {
            name == "mock-provider"
                || spec.get("package").and_then(toml::Value::as_str) == Some("mock-provider")
        });
        match (kind, names_mock) {
            ("dev-dependencies", true) => as_dev = true,
            (_, true) => wrong.push(format!("Cargo.toml: mock-provider is in [{place}{kind}]")),
            _ => {}
        }
    }
    (wrong, as_dev)
}

#[test]
fn the_mock_provider_is_a_dev_dependency_only_and_src_never_names_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (mut wrong, as_dev) =
        mock_outside_dev_dependencies(&std::fs::read_to_string(root.join("Cargo.toml")).unwrap());
    assert!(
        as_dev,
        "Cargo.toml: mock-provider is no longer in [dev-dependencies]"
    );

    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        if text.contains("mock_provider") || text.contains("mock-provider") {
            wrong.push(format!(
                "{} names the mock provider",
                file.strip_prefix(root).unwrap().display()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "the mock provider reaches production:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_manifest_check_sees_what_it_must() {
    let (wrong, as_dev) = mock_outside_dev_dependencies(
        r#"
[dependencies]
mock = { package = "mock-provider", path = "crates/mock-provider" }
[build-dependencies]
mock-provider = { path = "crates/mock-provider" }
[target.'cfg(unix)'.dependencies]
mock-provider = { path = "crates/mock-provider" }
"#,
    );
    assert!(!as_dev);
    assert_eq!(
        wrong,
        [
            "Cargo.toml: mock-provider is in [dependencies]",
            "Cargo.toml: mock-provider is in [build-dependencies]",
            "Cargo.toml: mock-provider is in [target.cfg(unix).dependencies]",
        ]
    );
    let (wrong, as_dev) = mock_outside_dev_dependencies(
        "[dev-dependencies]\nmock-provider = { path = \"crates/mock-provider\" }\n",
    );
    assert!(as_dev && wrong.is_empty());
}

/// A built-in provider's slug written in code: what makes a provider special belongs on its
/// definition (the catalogue), where the slugs are named once.
fn slug_literals(code: &str) -> Vec<String> {
    const SLUGS: [&str; 10] = [
        "slack",
        "google",
        "microsoft",
        "asana",
        "notion",
        "jira",
        "linear",
        "zoom",
        "dropbox",
        "github",
    ];
    code.lines()
        .filter(|line| SLUGS.iter().any(|slug| line.contains(&format!("\"{slug}\""))))
        .map(str::to_owned)
        .collect()
}

#[test]
fn provider_specifics_live_on_the_provider_definition() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    let mut found = Vec::new();
    for file in files
        .iter()
        .filter(|f| !f.starts_with(root.join("src/providers/catalogue")))
    {
        let text = std::fs::read_to_string(file).unwrap();
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(&text);
        for line in slug_literals(code) {
            found.push(format!("{}: {}", file.display(), line.trim()));
        }
    }
    assert!(found.is_empty(), "provider slugs in code:\n{}", found.join("\n"));
    assert_eq!(slug_literals("if row.provider_slug == \"linear\" {").len(), 1);
    assert!(slug_literals("if kind == WebhookKind::LinearSignature {").is_empty());
}

/// Lines of a source file's code, its unit tests left out.
fn code_lines(text: &str) -> usize {
    text.split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or(text)
        .lines()
        .count()
}

/// One job per file: no file of the app's source is longer than this (the hand-written
/// schema, which mirrors the migrations, and unit tests apart).
const MAX_CODE_LINES: usize = 420;

#[test]
fn no_source_file_is_longer_than_one_job() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter(|f| !f.ends_with("db/schema.rs"))
        .filter_map(|f| {
            let lines = code_lines(&std::fs::read_to_string(f).unwrap());
            (lines > MAX_CODE_LINES).then(|| format!("{}: {lines} lines", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "split these along their seams:\n{}",
        long.join("\n")
    );
    assert_eq!(code_lines("a\nb\n#[cfg(test)]\nmod tests {\n}\n"), 2);
}
