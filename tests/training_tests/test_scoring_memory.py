"""Scoring a national frame (250,000 cases) stays within a fixed memory budget."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from features.synthetic.generator import generate
from training.trainer import train

BUDGET_MB = 1_000


@pytest.mark.slow
def test_a_250k_frame_is_scored_in_bounded_memory(tmp_path, small_data) -> None:
    bundle = train(small_data.inspected, seed=1).model.save(tmp_path / "model")
    frame_file = tmp_path / "frame.parquet"
    generate(10, 250_000, seed=3).frame.to_parquet(frame_file)
    script = textwrap.dedent(
        f"""
        import json, re
        import pandas as pd
        from training.bundle import CaseworkModel

        def peak_kb():  # this process's own high-water mark (ru_maxrss keeps the parent's)
            with open("/proc/self/status") as status:
                return int(re.search(r"VmHWM:\\s+(\\d+)", status.read()).group(1))

        model = CaseworkModel.load({str(bundle)!r})
        frame = pd.read_parquet({str(frame_file)!r})
        before = peak_kb()
        scores = model.predict(frame)
        after = peak_kb()
        print(json.dumps({{"rows": len(scores), "before": before, "after": after}}))
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    before, after = figures["before"] / 1024, figures["after"] / 1024
    print(f"peak RSS {before:.0f} MB with the frame loaded, {after:.0f} MB after scoring it")
    assert figures["rows"] == 250_000
    assert after < BUDGET_MB
