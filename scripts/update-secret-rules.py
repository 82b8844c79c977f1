#!/usr/bin/env python3
"""Takes the secret rules the service uses from gitleaks' maintained rule set.

    python3 scripts/update-secret-rules.py GITLEAKS_TOML COMMIT

GITLEAKS_TOML is gitleaks' config/gitleaks.toml (https://github.com/gitleaks/gitleaks, MIT
licence) at COMMIT. The rules for the kinds of credential a snippet must not be shared or
sent to an AI provider with (private keys, cloud and VCS access keys, chat tokens, JWTs) are
copied, unchanged, with their allowlists' regexes, into
crates/pieces-service/src/secrets/gitleaks-rules.toml, which the service embeds.
"""

import pathlib
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "crates/pieces-service/src/secrets/gitleaks-rules.toml"
EXACT = {"private-key", "jwt", "aws-access-token", "gcp-api-key", "azure-ad-client-secret"}
PREFIXES = ("github-", "gitlab-", "slack-")


def literal(text):
    if "'''" in text:
        raise SystemExit(f"cannot quote {text!r}")
    return f"'''{text}'''"


def main():
    source, commit = pathlib.Path(sys.argv[1]), sys.argv[2]
    rules = tomllib.loads(source.read_text())["rules"]
    chosen = [r for r in rules if r["id"] in EXACT or r["id"].startswith(PREFIXES)]
    lines = [
        "# Secret rules taken unchanged from gitleaks' default configuration",
        f"# (https://github.com/gitleaks/gitleaks, config/gitleaks.toml at {commit}),",
        "# Copyright (c) 2019 Zachary Rice, MIT licence. Made by scripts/update-secret-rules.py;",
        "# do not edit by hand.",
        "",
    ]
    for rule in chosen:
        lines += ["[[rules]]", f'id = "{rule["id"]}"', f"regex = {literal(rule['regex'])}"]
        if "secretGroup" in rule:
            lines.append(f"secretGroup = {rule['secretGroup']}")
        if "entropy" in rule:
            lines.append(f"entropy = {rule['entropy']}")
        keywords = ", ".join(f'"{k}"' for k in rule.get("keywords", []))
        lines.append(f"keywords = [{keywords}]")
        allowed = [re for a in rule.get("allowlists", []) for re in a.get("regexes", [])]
        if allowed:
            lines.append("allow = [" + ", ".join(literal(r) for r in allowed) + "]")
        lines.append("")
    OUT.write_text("\n".join(lines))
    print(f"{len(chosen)} rules written to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
