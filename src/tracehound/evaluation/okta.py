"""The spray hunt on Okta: simulated tenants written as an Okta System Log, read back and scored.

Why a variant of its own: Okta records a sign-in differently from Entra — no client app, the app as
the target ``AppInstance``, country names, an ASN and a proxy flag, failure reasons instead of codes
— so a hunt tuned on Entra exports may lose what it keys on. Each tenant is simulated exactly as
:func:`~tracehound.evaluation.spray.simulate_and_evaluate` simulates it (same generator, seeds and
difficulties), its SigninLogs are rewritten as Okta LogEvents (:mod:`tracehound.simulate.formats`,
same ids) and the Okta file is read back through the ordinary reader and scored against the tenant's
own labels with the spray evaluation's scoring. Events Okta has no counterpart for (the "keep me
signed in" interrupt) are not written; their labels match nothing and change no number.
"""

from __future__ import annotations

from pathlib import Path

from ..engine import Engine
from .spray import TenantScore, evaluate_tenant


def okta_and_evaluate(work_dir: Path, engine: Engine, *, tenants: int = 5, users: int = 2000, days: int = 120,
                      difficulties: tuple[str, ...] = ("standard", "hard"),
                      presets: tuple[str, ...] = ("default", "mstic"), first_seed: int = 1,
                      progress=None) -> list[TenantScore]:
    """Simulate ``tenants`` tenants, write each as an Okta System Log and score each preset on it."""
    from ..simulate.formats import write_format
    from ..simulate.signins import simulate_signins

    scores = []
    for i in range(tenants):
        seed, difficulty = first_seed + i, difficulties[i % len(difficulties)]
        name = f"okta-seed{seed}-{difficulty}"
        if progress:
            progress(f"simulating {name} ({users} users x {days} days)")
        sim = simulate_signins(Path(work_dir) / name / "signinlogs", users=users, days=days, seed=seed,
                               difficulty=difficulty)
        if progress:
            progress(f"writing {name} as an Okta System Log")
        okta = write_format(sim.paths, Path(work_dir) / name / "okta", "okta")
        for preset in presets:
            if progress:
                progress(f"hunting {name} with preset {preset}")
            scores.append(evaluate_tenant(okta, sim.labels_path, engine, tenant=name, preset=preset))
    return scores
