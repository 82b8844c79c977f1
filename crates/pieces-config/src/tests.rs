use std::collections::HashMap;

use super::{Settings, ENV_VARS};
use pieces_model::Limits;
use pieces_store::DatabaseUrl;

fn load(pairs: &[(&str, &str)]) -> Result<Settings, String> {
    let vars = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<HashMap<_, _>>();
    Settings::from_vars(vars).map_err(|e| e.to_string())
}

#[test]
fn settings_default_to_the_limits_the_model_defaults_to() {
    let (from_settings, own) = (Settings::default().limits(), Limits::default());
    assert_eq!(format!("{from_settings:?}"), format!("{own:?}"));
}

/// Configuration sits above the domain: the model's defaults are its own, and settings
/// start from them, so the model never needs to reach up for them (its crate does not
/// depend on this one, which the compiler holds it to).
#[test]
fn the_model_does_not_depend_on_configuration() {
    let manifest =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../pieces-model/Cargo.toml");
    let manifest = std::fs::read_to_string(manifest).expect("the model's manifest");
    assert!(!manifest.contains("pieces-config"), "{manifest}");
}

#[test]
fn database_url_is_parsed_once_into_the_store_it_names() {
    let url = |value: &str| load(&[("DATABASE_URL", value)]).map(|s| s.database_url);
    let unset = load(&[]).expect("defaults").database_url;
    assert!(matches!(&unset, DatabaseUrl::Sqlite(file) if file == "sqlite://data/pieces.db"));
    assert!(unset.is_embedded());
    let file = url("sqlite://other/pieces.db").expect("a SQLite file");
    assert!(matches!(&file, DatabaseUrl::Sqlite(f) if f == "sqlite://other/pieces.db"));
    for server in ["postgres://app@db/pieces", "postgresql://app@db/pieces"] {
        let parsed = url(server).expect("a PostgreSQL URL");
        assert!(matches!(parsed, DatabaseUrl::Postgres(_)), "{server}");
        assert!(!parsed.is_embedded(), "{server}");
    }
    for refused in ["mysql://db/pieces", "postgresfoo://db/pieces", "pieces.db"] {
        assert_eq!(
            url(refused).expect_err(refused),
            "configuration error: DATABASE_URL: must start with sqlite: or postgres:// \
             (unset = ./data/pieces.db)"
        );
    }
}

#[test]
fn no_secret_is_printed_by_debug() {
    let settings = load(&[
        ("JWT_SECRET_KEY", "jwt-secret-that-is-long-enough-for-hs256"),
        ("API_KEY", "platform-api-key"),
        ("PIECES_API_KEY", "pieces-api-key"),
        ("DATABASE_URL", "postgres://app:database-password@db/pieces"),
        ("REDIS_URL", "redis://:redis-password@cache:6379/2"),
    ])
    .expect("valid settings");
    let printed = format!("{settings:?}");
    for secret in [
        "jwt-secret",
        "platform-api-key",
        "pieces-api-key",
        "database-password",
        "redis-password",
    ] {
        assert!(!printed.contains(secret), "{secret} in {printed}");
    }
}

#[test]
fn an_unknown_key_in_the_config_file_is_refused_naming_it() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("pieces.toml");
    std::fs::write(&file, "api_port = 8300\napi_prot = 8300\n").expect("written");
    let error = load(&[("CONFIG_FILE", file.to_str().expect("UTF-8 path"))]);
    assert_eq!(
        error.expect_err("refused"),
        "configuration error: CONFIG_FILE: unknown key `api_prot`"
    );
}

#[test]
fn an_api_key_that_cannot_be_a_header_is_refused_naming_api_key() {
    let error = load(&[("API_KEY", "platform\u{7}key")]).expect_err("refused");
    assert!(error.contains("API_KEY"), "{error}");
    assert!(
        !error.contains("platform"),
        "the key itself is not printed: {error}"
    );
    assert_eq!(error.lines().count(), 1, "{error}");
}

#[test]
fn every_variable_is_documented_in_env_example_and_readme() {
    let example = include_str!("../../../.env.example");
    let readme = include_str!("../../../README.md");
    for var in ENV_VARS {
        assert!(
            example.contains(&format!("\n{var}=")),
            "{var} missing from .env.example"
        );
        assert!(
            readme.contains(&format!("`{var}`")),
            "{var} missing from README"
        );
    }
}

#[test]
fn ai_providers_default_to_the_configured_ones_with_the_cognitive_service_first() {
    use pieces_model::Provider::{Cognitive, Openai};
    let none = load(&[]).expect("defaults");
    assert!(none.answering_providers().is_empty());
    let openai = [
        ("OPENAI_BASE_URL", "http://localhost:11434/v1"),
        ("OPENAI_MODEL", "llama3.2"),
    ];
    let only = load(&openai).expect("openai alone");
    assert_eq!(only.answering_providers(), [Openai]);
    let mut both = openai.to_vec();
    both.push(("COGNITIVE_SERVICES_URL", "http://cognitive:8000"));
    let both_set = load(&both).expect("both");
    assert_eq!(both_set.answering_providers(), [Cognitive, Openai]);
    both.push(("AI_PROVIDERS", " openai , cognitive "));
    let ordered = load(&both).expect("ordered");
    assert_eq!(ordered.answering_providers(), [Openai, Cognitive]);
    assert_eq!(ordered.ai_cache_ttl_secs, 3600);
}

#[test]
fn each_bad_ai_setting_is_refused_in_one_line_naming_its_variable() {
    let url = ("OPENAI_BASE_URL", "http://localhost:11434/v1");
    let model = ("OPENAI_MODEL", "llama3.2");
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("AI_PROVIDERS", "cognitive,gemini")], "AI_PROVIDERS: "),
        (
            &[url, model, ("AI_PROVIDERS", "openai,openai")],
            "AI_PROVIDERS: ",
        ),
        (
            &[("AI_PROVIDERS", "cognitive")],
            "AI_PROVIDERS: names cognitive, but COGNITIVE_SERVICES_URL is unset",
        ),
        (
            &[("AI_PROVIDERS", "openai")],
            "AI_PROVIDERS: names openai, but OPENAI_BASE_URL is unset",
        ),
        (
            &[("OPENAI_BASE_URL", "localhost:11434"), model],
            "OPENAI_BASE_URL: ",
        ),
        (&[url], "OPENAI_MODEL: is required with OPENAI_BASE_URL"),
        (
            &[model],
            "OPENAI_MODEL: is set, but OPENAI_BASE_URL is unset",
        ),
        (
            &[("OPENAI_API_KEY", "sk-1")],
            "OPENAI_API_KEY: is set, but OPENAI_BASE_URL is unset",
        ),
        (
            &[url, model, ("OPENAI_API_KEY", "sk\u{7}secret")],
            "OPENAI_API_KEY: ",
        ),
        (&[("AI_CACHE_TTL_SECS", "an hour")], "AI_CACHE_TTL_SECS: "),
    ];
    for (vars, expected) in cases {
        let error = load(vars).expect_err(expected);
        let line = error.trim_start_matches("configuration error: ");
        assert!(line.starts_with(expected), "{expected:?}: {error}");
        assert_eq!(error.lines().count(), 1, "{error}");
        assert!(!error.contains("secret"), "the key is not printed: {error}");
    }
}
