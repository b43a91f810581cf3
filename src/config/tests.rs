//! Loading the settings end to end: defaults, file, environment, validation and printing.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn load_err(file: Option<&str>, pairs: &[(&str, &str)]) -> String {
    match Settings::load_from(file, env(pairs)) {
        Ok(settings) => panic!("expected an error, got {settings:?}"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn with_nothing_configured_the_documented_defaults_apply() {
    let settings = Settings::load_from(None, Vec::new()).unwrap();
    assert_eq!(settings.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(settings.internal_listen, "127.0.0.1:8081".parse().unwrap());
    assert_eq!(settings.data_dir, PathBuf::from("./smsgate-data"));
    assert_eq!(settings.mode, Mode::Dev);
    assert_eq!(settings.log_format, LogFormat::Pretty);
    assert!(settings.mongodb_uri.is_none());
    assert_eq!(settings.mongodb_database, "smsgate");
    assert!(settings.encryption_keys.is_empty());
    assert!(settings.admin_token.is_none() && settings.service_token.is_none());
    assert!(settings.public_url.is_none());
    assert_eq!(settings.max_attempts, 5);
    assert_eq!(settings.retry_base(), Duration::from_secs(1));
    assert_eq!(settings.retry_max(), Duration::from_secs(60));
    assert_eq!(settings.max_segments, 10);
    assert_eq!(settings.shutdown_grace(), Duration::from_secs(10));
    assert_eq!(settings.max_body_bytes, 1_048_576);
}

#[test]
fn the_file_overrides_defaults_and_the_environment_overrides_the_file() {
    let file = r#"
        listen = "0.0.0.0:9000"
        internal_listen = "127.0.0.1:9001"
        max_attempts = 3
        admin_token = "from-file"
    "#;
    let settings = Settings::load_from(
        Some(file),
        env(&[
            ("SMSGATE_LISTEN", "0.0.0.0:9100"),
            ("SMSGATE_MAX_ATTEMPTS", "7"),
            ("SMSGATE_ENCRYPTION_KEYS", "k1, k2,"),
            ("SMSGATE_MODE", "PROD"),
            ("SMSGATE_SERVICE_TOKEN", "svc"),
            ("SMSGATE_PUBLIC_URL", "https://sms.example.com/"),
            ("SMSGATE_MONGODB_URI", "mongodb://db/smsgate"),
            ("SMSGATE_MONGODB_DATABASE", "sms_eu"),
            ("HOME", "/root"),
            ("SMSGATE_SOMETHING_NEW", "ignored"),
        ]),
    )
    .unwrap();
    assert_eq!(settings.listen, "0.0.0.0:9100".parse().unwrap());
    assert_eq!(settings.internal_listen, "127.0.0.1:9001".parse().unwrap());
    assert_eq!(settings.max_attempts, 7);
    assert_eq!(settings.mode, Mode::Prod);
    assert_eq!(settings.admin_token.unwrap().expose(), "from-file");
    assert_eq!(settings.service_token.unwrap().expose(), "svc");
    let keys: Vec<&str> = settings
        .encryption_keys
        .iter()
        .map(SecretString::expose)
        .collect();
    assert_eq!(keys, ["k1", "k2"]);
    assert_eq!(
        settings.public_url.as_deref(),
        Some("https://sms.example.com")
    );
    assert_eq!(
        settings.mongodb_uri.unwrap().expose(),
        "mongodb://db/smsgate"
    );
    assert_eq!(settings.mongodb_database, "sms_eu");
}

#[test]
fn an_empty_variable_unsets_a_value_from_the_file() {
    let settings = Settings::load_from(
        Some(r#"admin_token = "from-file""#),
        env(&[("SMSGATE_ADMIN_TOKEN", "")]),
    )
    .unwrap();
    assert!(settings.admin_token.is_none());
}

#[test]
fn bad_values_are_refused_in_one_line_naming_the_setting() {
    /// The file's text, the environment, and what the one-line error must say.
    type Case = (
        Option<&'static str>,
        &'static [(&'static str, &'static str)],
        &'static str,
    );
    let cases: &[Case] = &[
        (
            None,
            &[("SMSGATE_LISTEN", "localhost")],
            "listen (SMSGATE_LISTEN): `localhost` is not an address and port",
        ),
        (
            None,
            &[("SMSGATE_MODE", "staging")],
            "mode (SMSGATE_MODE): unknown mode `staging`: use `dev` or `prod`",
        ),
        (
            None,
            &[("SMSGATE_LOG_FORMAT", "xml")],
            "log_format (SMSGATE_LOG_FORMAT): unknown log format `xml`",
        ),
        (
            None,
            &[("SMSGATE_MAX_ATTEMPTS", "five")],
            "max_attempts (SMSGATE_MAX_ATTEMPTS): `five` is not a whole number",
        ),
        (
            None,
            &[("SMSGATE_MAX_ATTEMPTS", "0")],
            "max_attempts (SMSGATE_MAX_ATTEMPTS): must be at least 1",
        ),
        (
            None,
            &[("SMSGATE_RETRY_MAX_MS", "10")],
            "retry_max_ms (SMSGATE_RETRY_MAX_MS): 10 is less than retry_base_ms (1000)",
        ),
        (
            None,
            &[("SMSGATE_PUBLIC_URL", "sms.example.com")],
            "public_url (SMSGATE_PUBLIC_URL): `sms.example.com` is not an http(s) URL",
        ),
        (
            None,
            &[("SMSGATE_INTERNAL_LISTEN", "127.0.0.1:8080")],
            "internal_listen (SMSGATE_INTERNAL_LISTEN): must differ from listen",
        ),
        (
            None,
            &[
                ("SMSGATE_ADMIN_TOKEN", "same"),
                ("SMSGATE_SERVICE_TOKEN", "same"),
            ],
            "service_token (SMSGATE_SERVICE_TOKEN): must differ from admin_token",
        ),
        (
            None,
            &[("SMSGATE_MONGODB_DATABASE", "sms.gate")],
            "mongodb_database (SMSGATE_MONGODB_DATABASE): `sms.gate` is not a MongoDB database name",
        ),
        (
            None,
            &[("SMSGATE_MODE", "prod")],
            "encryption_keys (SMSGATE_ENCRYPTION_KEYS): required in prod mode",
        ),
        (
            None,
            &[("SMSGATE_MODE", "prod"), ("SMSGATE_ENCRYPTION_KEYS", "k")],
            "admin_token (SMSGATE_ADMIN_TOKEN): required in prod mode",
        ),
        (
            Some("lisen = \"0.0.0.0:1\""),
            &[],
            "invalid configuration: unknown field `lisen`",
        ),
        (
            Some("max_attempts = 5\nlisten = \n"),
            &[],
            "invalid configuration in smsgate.toml at line 2: ",
        ),
        (
            Some("max_attempts = \"five\""),
            &[],
            "invalid configuration: invalid type: string \"five\"",
        ),
    ];
    for (file, pairs, expected) in cases {
        let message = load_err(*file, pairs);
        assert!(
            message.contains(expected),
            "for {pairs:?} / {file:?}:\n  got      {message}\n  expected {expected}"
        );
        assert!(!message.contains('\n'), "not one line: {message}");
    }
}

#[test]
fn mode_is_read_from_its_names() {
    assert_eq!(Mode::try_from("dev").unwrap(), Mode::Dev);
    assert_eq!(Mode::try_from(" Production ").unwrap(), Mode::Prod);
    assert!(Mode::try_from("").is_err());
}

#[test]
fn secrets_never_show_in_debug_or_in_the_printed_config() {
    let settings = Settings::load_from(
        None,
        env(&[
            ("SMSGATE_ADMIN_TOKEN", "admin-s3cret"),
            ("SMSGATE_SERVICE_TOKEN", "service-s3cret"),
            ("SMSGATE_ENCRYPTION_KEYS", "key-s3cret"),
            ("SMSGATE_MONGODB_URI", "mongodb://user:db-s3cret@db/smsgate"),
        ]),
    )
    .unwrap();
    let debug = format!("{settings:?}");
    let printed = settings.redacted_toml();
    for shown in [&debug, &printed] {
        assert!(!shown.contains("s3cret"), "a secret leaked: {shown}");
        assert!(shown.contains("[redacted]"));
    }
    assert!(printed.contains("listen = \"127.0.0.1:8080\""));
}

#[test]
fn the_printed_config_reads_back_as_toml() {
    let settings = Settings::load_from(None, Vec::new()).unwrap();
    let table: toml::Table = settings.redacted_toml().parse().unwrap();
    assert_eq!(table["max_attempts"].as_integer(), Some(5));
    assert_eq!(table["admin_token"].as_str(), Some("[not set]"));
}

#[test]
fn the_named_file_wins_over_the_environment_and_the_default_file() {
    let explicit = Path::new("/etc/smsgate.toml");
    let from_env = Path::new("/srv/smsgate.toml");
    assert_eq!(
        config_path(Some(explicit), Some(from_env)).as_deref(),
        Some(explicit)
    );
    assert_eq!(config_path(None, Some(from_env)).as_deref(), Some(from_env));
}

#[test]
fn outbound_allow_is_read_from_the_environment_and_checked() {
    let settings = Settings::load_from(
        None,
        env(&[("SMSGATE_OUTBOUND_ALLOW", "relay.internal, 10.20.0.0/16")]),
    )
    .unwrap();
    assert!(settings.outbound.allows_host("relay.internal", Some(443)));
    assert!(settings.outbound.allows_host("10.20.1.1", Some(80)));
    assert!(!settings.outbound.allows_host("127.0.0.1", Some(80)));
    assert!(
        settings
            .redacted_toml()
            .contains(r#"outbound_allow = ["relay.internal", "10.20.0.0/16"]"#),
        "{}",
        settings.redacted_toml()
    );
    let err = load_err(None, &[("SMSGATE_OUTBOUND_ALLOW", "10.0.0.0/40")]);
    assert!(err.contains("outbound_allow"), "{err}");
}

#[test]
fn an_alert_webhook_at_a_metadata_address_is_refused_unless_listed() {
    let file = r#"
        [alerts.webhook]
        url = "http://169.254.169.254/latest/meta-data/"
        secret = "whsec-0123456789"
    "#;
    let err = load_err(Some(file), &[]);
    assert!(err.contains("alerts.webhook.url"), "{err}");
    assert!(!err.contains("meta-data"), "the path is not echoed: {err}");
    let listed = Settings::load_from(
        Some(file),
        env(&[("SMSGATE_OUTBOUND_ALLOW", "169.254.169.254")]),
    )
    .unwrap();
    assert!(listed.alerts.webhook.is_some());
}
