//! What dev mode leaves on disk and on the network: an owner-only data dir and key file, and a
//! warning when it listens beyond loopback.

use crate::helpers::*;

#[cfg(unix)]
#[tokio::test]
async fn the_data_dir_and_the_dev_key_are_created_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh");
    let data_env = data.display().to_string();
    let app = spawn_app_in(dir, &[("SMSGATE_DATA_DIR", data_env.as_str())]).await;
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "data dir");
    assert_eq!(
        mode(&data.join("dev-encryption.key")),
        0o600,
        "dev key file"
    );
    assert!(
        app.banner
            .iter()
            .any(|l| l.contains("generated an encryption key")),
        "{:?}",
        app.banner
    );
}

#[tokio::test]
async fn dev_mode_on_a_non_loopback_address_says_so() {
    let quiet = spawn_app().await;
    assert!(
        !quiet.banner.iter().any(|l| l.contains("non-loopback")),
        "{:?}",
        quiet.banner
    );
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_in(dir, &[("SMSGATE_LISTEN", "0.0.0.0:0")]).await;
    let warning = app
        .banner
        .iter()
        .find(|l| l.starts_with("warning: dev mode on a non-loopback address"))
        .unwrap_or_else(|| panic!("no warning in {:?}", app.banner));
    assert!(warning.contains("0.0.0.0"), "{warning}");
}
