//! `.env.example` lists every environment variable the app reads, and only those, so it cannot
//! drift from the code. The names come from the code itself: the string literals of
//! src/config/ (where settings are read), every `env::var("…")` elsewhere in src/, tracing's
//! RUST_LOG, reqwest's proxy variables, and the `<PROVIDER>_CLIENT_ID`/`_CLIENT_SECRET` pair of
//! each built-in provider.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use targetym_integrations::providers::catalogue::builtin_providers;

/// Variables in `.env.example` that the app does not read: compose.yaml's own.
const NOT_READ: [&str; 1] = ["POSTGRES_PASSWORD"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// A file's code up to its unit tests.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// The contents of the string literals of Rust code (comments and `'"'` skipped).
fn string_literals(code: &str) -> Vec<String> {
    let (mut literals, mut current) = (Vec::new(), None::<String>);
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        match (&mut current, c) {
            (Some(s), '\\') => {
                s.push(c);
                s.extend(chars.next());
            }
            (Some(_), '"') => literals.extend(current.take()),
            (Some(s), _) => s.push(c),
            (None, '"') => current = Some(String::new()),
            (None, '\'') if chars.peek() == Some(&'"') => {
                chars.next();
                chars.next();
            }
            (None, '/') if chars.peek() == Some(&'/') => while chars.next_if(|&n| n != '\n').is_some() {},
            (None, _) => {}
        }
    }
    literals
}

/// `APP_ENV`-like names in a text: upper case with an underscore, not a part of a longer word,
/// not a placeholder (`{prefix}_CLIENT_ID`, `{MIN_LEN}`).
fn variable_names(text: &str) -> BTreeSet<String> {
    let is_name_char = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_';
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find(is_name_char) {
        let before = rest[..start].chars().next_back();
        let len = rest[start..]
            .find(|c| !is_name_char(c))
            .unwrap_or(rest.len() - start);
        let word = &rest[start..start + len];
        let after = rest[start + len..].chars().next();
        let joined = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || "{}_".contains(c));
        if word.starts_with(|c: char| c.is_ascii_uppercase())
            && word.contains('_')
            && !joined(before)
            && !joined(after)
        {
            names.insert(word.to_owned());
        }
        rest = &rest[start + len..];
    }
    names
}

/// Every variable the code reads.
fn variables_read() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for file in rust_files(&root().join("src")) {
        let code = code(&file);
        if file.starts_with(root().join("src/config")) {
            for literal in string_literals(&code) {
                names.extend(variable_names(&literal));
            }
        }
        for call in ["env::var(\"", "env::var_os(\""] {
            for (at, _) in code.match_indices(call) {
                let name = &code[at + call.len()..];
                names.insert(name[..name.find('"').unwrap()].to_owned());
            }
        }
        if code.contains("from_default_env") {
            names.insert("RUST_LOG".to_owned());
        }
        // reqwest's client reads the proxy variables unless it is built with `no_proxy()`.
        if code.contains("reqwest::Client::builder()") && !code.contains(".no_proxy()") {
            names.extend(["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"].map(String::from));
        }
        // The system's certificate store (rustls-native-certs) honours these.
        if code.contains(".tls_built_in_native_certs(") {
            names.extend(["SSL_CERT_FILE", "SSL_CERT_DIR"].map(String::from));
        }
    }
    for provider in builtin_providers() {
        let prefix = provider.slug.to_ascii_uppercase().replace('-', "_");
        names.insert(format!("{prefix}_CLIENT_ID"));
        names.insert(format!("{prefix}_CLIENT_SECRET"));
    }
    names
}

/// The names `.env.example` sets or shows (`NAME=` or `# NAME=`).
fn variables_listed() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join(".env.example")).unwrap();
    text.lines()
        .filter_map(|line| {
            let line = line.trim_start_matches('#').trim_start();
            let (name, _) = line.split_once('=')?;
            let is_name = name.starts_with(|c: char| c.is_ascii_uppercase())
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            is_name.then(|| name.to_owned())
        })
        .collect()
}

#[test]
fn the_env_example_lists_every_variable_the_code_reads_and_no_other() {
    let read = variables_read();
    let listed = variables_listed();
    // What the scan must find, or it found nothing.
    for known in [
        "APP_ENV",
        "DATABASE_URL",
        "SESSION_KEY",
        "HOSTNAME",
        "RUST_LOG",
        "SLACK_CLIENT_ID",
    ] {
        assert!(read.contains(known), "{known} not found in the code: {read:?}");
    }
    // `<NAME>_FILE` (a secret read from a file) is documented once, by its NAME.
    let missing: Vec<&String> = read
        .iter()
        .filter(|name| !listed.contains(*name))
        .filter(|name| !name.strip_suffix("_FILE").is_some_and(|n| listed.contains(n)))
        .collect();
    assert!(missing.is_empty(), ".env.example lacks {missing:?}");
    let unknown: Vec<&String> = listed
        .iter()
        .filter(|name| !read.contains(*name) && !NOT_READ.contains(&name.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        ".env.example lists variables nothing reads: {unknown:?}"
    );
}

#[test]
fn the_scan_finds_names_only_where_they_are_whole() {
    let code = r#"let a = v.text("BIND_ADDR"); // "NOT_THIS" in a comment
        let b = format!("{prefix}_CLIENT_SECRET must be {MIN_LEN} long, see APP_ENV=production");
        let q = '"'; let c = v.number("DB_POOL_SIZE", 10, 1..=500);"#;
    let names: BTreeSet<String> = string_literals(code)
        .iter()
        .flat_map(|l| variable_names(l))
        .collect();
    let expected: BTreeSet<String> = ["APP_ENV", "BIND_ADDR", "DB_POOL_SIZE"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(names, expected);
}
