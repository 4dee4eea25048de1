#!/usr/bin/env python3
"""Writes every track's starters and solutions from one template per framework, so that a
change to a step reaches every later step; `--check` (run by scripts/workshop.sh) fails when a
committed file differs from what the template makes.

    python3 workshop/maintainers/generate.py           # rewrite workshop/*/{exercises,solutions}
    python3 workshop/maintainers/generate.py --check   # CI: nothing to rewrite

A template is the last step's solution with every line marked by the steps it belongs to:

    // @from N        ... // @end   in the solution of step N and later (and starters after N)
    // @until N       ... // @end   in the solutions up to step N (and starters up to N + 1)
    // @from-step N   ... // @end   in step N and later, starter or solution
    // @until-step N  ... // @end   in steps up to N, starter or solution
    // @only-solution N ... // @end   in the solution of step N only
    // @only-starter N  ... // @end   in the starter of step N only

The starter of step N is the solution of step N - 1 plus its `@only-starter N` lines (the TODOs
and stubs). Output goes through rustfmt, as the committed files do.
"""

import pathlib
import re
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
WORKSHOP = HERE.parent
STEPS = [
    "01_streams/01_first_stream",
    "01_streams/02_paragraph",
    "02_reconnecting/01_resume",
    "02_reconnecting/02_retry_and_keep_alive",
    "03_chat/01_chat",
    "04_going_away/01_shutdown",
    "05_answers/01_answer_over_post",
]
MARK = re.compile(r"\s*// @(from|until|from-step|until-step|only-solution|only-starter) (\d+)$")
END = re.compile(r"\s*// @end$")


def render(template, step, starter):
    """The source of step `step`'s starter or solution."""
    have = step - 1 if starter else step
    out, stack = [], []
    for line in template.split("\n"):
        mark = MARK.match(line)
        if mark:
            kind, n = mark.group(1), int(mark.group(2))
            stack.append({
                "from": have >= n,
                "until": have <= n,
                "from-step": step >= n,
                "until-step": step <= n,
                "only-solution": not starter and step == n,
                "only-starter": starter and step == n,
            }[kind])
        elif END.match(line):
            stack.pop()
        elif all(stack):
            out.append(line)
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(out))
    formatted = subprocess.run(
        ["rustfmt", "--edition", "2024", "--emit", "stdout"],
        input=text.rstrip("\n") + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    return formatted.stdout


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for template in sorted(HERE.glob("*.rs.tpl")):
        track = template.name.removesuffix(".rs.tpl")
        text = template.read_text()
        for number, step in enumerate(STEPS, start=1):
            for kind in ("exercises", "solutions"):
                path = WORKSHOP / track / kind / step / "src" / "main.rs"
                source = render(text, number, kind == "exercises")
                if path.read_text() != source:
                    stale.append(path.relative_to(WORKSHOP.parent))
                    if not check:
                        path.write_text(source)
    if check and stale:
        for path in stale:
            print(f"{path} differs from its template; run python3 workshop/maintainers/generate.py")
        sys.exit(1)
    print(f"{len(stale)} file(s) {'stale' if check else 'rewritten'}")


if __name__ == "__main__":
    main()
