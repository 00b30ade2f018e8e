//! Shell completions, generated from the command-line definition.

use assert_cmd::Command;

#[test]
fn completions_are_generated_from_the_command_line() {
    let run = |shell: &str| {
        let out = Command::cargo_bin("dumpvault")
            .unwrap()
            .env_remove("DUMPVAULT_REPOSITORY")
            .args(["completions", shell])
            .assert()
            .success();
        String::from_utf8_lossy(&out.get_output().stdout).into_owned()
    };
    let bash = run("bash");
    assert!(bash.contains("dumpvault"), "{bash}");
    for sub in ["snapshot", "restore", "tag", "stats", "diff", "key"] {
        assert!(bash.contains(sub), "bash completion lacks {sub}");
    }
    assert!(run("zsh").contains("#compdef dumpvault"));
    assert!(run("fish").contains("complete -c dumpvault"));
    Command::cargo_bin("dumpvault")
        .unwrap()
        .args(["completions", "tcsh"])
        .assert()
        .code(2);
}
