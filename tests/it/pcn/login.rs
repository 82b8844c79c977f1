//! `pcn login`: the token checked, then kept in a file only its user can read, which later
//! commands use unless PCN_URL / PCN_TOKEN say otherwise.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::{run, User};
use crate::support::{Backend, TestApp};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("exists")
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_checks_the_token_and_keeps_it_in_a_file_only_its_user_can_read() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = User::on(&app).await;
    let url = format!("{}/", app.api);
    let login = ["login", "--url", &url, "--token", &alice.token];
    let said = run(alice.pcn_without_login(&login), "").await;
    assert!(said.ok().contains(&app.api), "{said:?}");

    let file = alice.config_home().join("pcn/config.toml");
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(file.parent().expect("its directory")), 0o700);
    let kept = std::fs::read_to_string(&file).expect("the login file");
    assert!(
        kept.contains(&format!("token = \"{}\"", alice.token)),
        "{kept}"
    );
    assert!(kept.contains(&format!("url = \"{}\"", app.api)), "{kept}");

    let listed = run(alice.pcn_without_login(&["list"]), "").await;
    listed.ok();
    let mut overridden = alice.pcn_without_login(&["list"]);
    overridden.env("PCN_TOKEN", format!("pcn_{}", "A".repeat(43)));
    let refused = run(overridden, "").await;
    assert!(
        refused.failed().contains("the token is not known"),
        "PCN_TOKEN wins over the file: {refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_the_service_refuses_is_not_saved() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = User::on(&app).await;
    let bogus = format!("pcn_{}", "B".repeat(43));
    let login = ["login", "--url", &app.api, "--token", &bogus];
    let refused = run(alice.pcn_without_login(&login), "").await;
    assert!(
        refused.failed().contains("the token is not known"),
        "{refused:?}"
    );
    assert!(!alice.config_home().join("pcn/config.toml").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_reads_url_and_token_from_stdin_and_keeps_them_under_home_without_xdg() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = User::on(&app).await;
    let mut login = alice.pcn_without_login(&["login"]);
    login.env_remove("XDG_CONFIG_HOME");
    let answers = format!("{}\n{}\n", app.api, alice.token);
    run(login, &answers).await.ok();
    let file = alice.home().join(".config/pcn/config.toml");
    assert_eq!(mode(&file), 0o600);

    let mut list = alice.pcn_without_login(&["list"]);
    list.env_remove("XDG_CONFIG_HOME");
    run(list, "").await.ok();
}
