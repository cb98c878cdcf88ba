//! `kiln plugin` as a process: keygen, sign, install (with the key trusted, then
//! refused without it), list, verify (which fails once an installed file changes),
//! remove. The plugin is QuickJS from `plugins/fetch.sh`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kiln(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .env("KILN_HOME", home)
        .arg("plugin")
        .args(args)
        .output()
        .expect("kiln runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn javascript() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist/javascript");
    assert!(
        dir.join("plugin.toml").exists(),
        "{} is missing: run plugins/fetch.sh (the CI does)",
        dir.display()
    );
    dir
}

#[test]
fn a_publisher_signs_and_an_operator_installs_lists_verifies_and_removes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let home = tmp.path().join("home");
    let key = tmp.path().join("publisher.key");
    let key_arg = key.to_str().expect("utf-8");
    let cache = tmp.path().join("cache");
    let cache_arg = cache.to_str().expect("utf-8");
    let o = kiln(&home, &["keygen", "--out", key_arg]);
    assert!(o.status.success(), "{}", text(&o));
    let public = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert_eq!(public.len(), 64, "{public}");
    let o = kiln(&home, &["keygen", "--out", key_arg]);
    assert!(
        !o.status.success(),
        "an existing key file is never overwritten"
    );
    // A copy of the plugin, signed.
    let plugin = tmp.path().join("js");
    std::fs::create_dir(&plugin).expect("dir");
    for e in std::fs::read_dir(javascript()).expect("dist") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), plugin.join(e.file_name())).expect("copy");
    }
    let dir = plugin.to_str().expect("utf-8");
    let o = kiln(&home, &["sign", dir, "--key", key_arg]);
    assert!(o.status.success(), "{}", text(&o));
    // Without the key trusted, it is refused; with it, installed.
    let o = kiln(&home, &["install", dir, "--cache", cache_arg]);
    assert!(!o.status.success());
    assert!(text(&o).contains("is not trusted"), "{}", text(&o));
    let o = kiln(
        &home,
        &[
            "install",
            dir,
            "--cache",
            cache_arg,
            "--trusted-key",
            &public,
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("signed by {public}")),
        "{}",
        text(&o)
    );
    let o = kiln(&home, &["list", "--trusted-key", &public]);
    assert!(
        text(&o).contains("quickjs 0.17.0\tjavascript"),
        "{}",
        text(&o)
    );
    let o = kiln(&home, &["verify", "--trusted-key", &public]);
    assert!(o.status.success(), "{}", text(&o));
    // An installed file changed: verify fails and names it.
    let installed = home.join("plugins/quickjs/0.17.0/plugin.toml");
    let manifest = std::fs::read_to_string(&installed).expect("manifest");
    std::fs::write(
        &installed,
        manifest.replace("timeout_ms = 5000", "timeout_ms = 1"),
    )
    .expect("write");
    let o = kiln(&home, &["verify", "--trusted-key", &public]);
    assert!(!o.status.success());
    assert!(text(&o).contains("FAILED"), "{}", text(&o));
    let o = kiln(&home, &["remove", "quickjs@0.17.0"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!home.join("plugins/quickjs").exists());
    let o = kiln(&home, &["remove", "quickjs"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("no plugin `quickjs` is installed"),
        "{}",
        text(&o)
    );
}
