"""The publishing workflow builds the book with the README's commands and deploys _build/html to
GitHub Pages on a push to main; the licence and citation files exist."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "publish.yml"


def readme_commands() -> set[str]:
    text = (ROOT / "README.md").read_text()
    commands = set()
    for block in re.findall(r"^```bash\n(.*?)^```", text, re.M | re.S):
        for line in block.splitlines():
            command = line.split("#", 1)[0].strip()
            if command:
                commands.add(command)
    return commands


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def test_it_runs_on_a_push_to_main():
    data = workflow()
    trigger = data.get("on", data.get(True))   # YAML 1.1 reads a bare `on` as true
    assert "main" in trigger["push"]["branches"]
    assert data["permissions"]["pages"] == "write" and data["permissions"]["id-token"] == "write"


def test_it_runs_the_readme_commands_and_nothing_else():
    steps = [s for job in workflow()["jobs"].values() for s in job["steps"]]
    runs = [line.strip() for s in steps if "run" in s for line in s["run"].splitlines() if line.strip()]
    assert "make book" in runs, "the workflow does not build the book with `make book`"
    unknown = [r for r in runs if r not in readme_commands()]
    assert not unknown, f"the workflow runs commands the README does not give: {unknown}"
    assert "make book" in readme_commands()


def test_it_publishes_the_built_site_to_pages():
    jobs = workflow()["jobs"]
    steps = [s for job in jobs.values() for s in job["steps"]]
    uploads = [s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact@")]
    assert uploads and uploads[0]["with"]["path"] == "_build/html"
    deploys = [s for s in steps if s.get("uses", "").startswith("actions/deploy-pages@")]
    assert deploys, "no actions/deploy-pages step"
    deploy_job = next(name for name, job in jobs.items() if deploys[0] in job["steps"])
    assert "build" in str(jobs[deploy_job].get("needs")), "deploying does not wait for the build"


def test_licences_and_citation():
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert "CC BY 4.0" in (ROOT / "LICENSE-CONTENT").read_text()
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0"
    assert citation["title"] and citation["authors"]
    assert set(citation["license"]) == {"MIT", "CC-BY-4.0"}
    footer = yaml.safe_load((ROOT / "_config.yml").read_text())["html"]["extra_footer"]
    assert "CC BY 4.0" in footer and "MIT" in footer
