"""The partition of a model id (neural_heatmap_contract.partition) against its test vectors.

protos/policy/partition.json is the one table every implementation checks (Go:
sdk/go/neuralheatmap/partition_test.go, TypeScript: sdk/typescript/src/test/
partition.test.ts); the published FNV-1a vectors ("a", "foobar") tie it to the hash
everyone else means by the name.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from neural_heatmap_contract import partition as part

ROOT = Path(__file__).resolve().parents[2]
TABLE = json.loads((ROOT / "protos/policy/partition.json").read_text(encoding="utf-8"))


def test_the_table_names_the_contract_partition_count() -> None:
    assert TABLE["partitions"] == part.PARTITIONS


def test_every_vector() -> None:
    assert len(TABLE["vectors"]) >= 10
    for row in TABLE["vectors"]:
        model_id = row["model_id"]
        assert part.fnv1a32(model_id.encode("utf-8")) == row["fnv1a32"], model_id
        assert part.partition(model_id) == row["partition"], model_id


def test_published_fnv1a_vectors() -> None:
    assert part.fnv1a32(b"") == 0x811C9DC5
    assert part.fnv1a32(b"a") == 0xE40C292C
    assert part.fnv1a32(b"foobar") == 0xBF9CF968


def test_the_partition_is_the_same_in_another_process() -> None:
    """Unlike ``hash()``, which is salted per process."""
    ids = [f"model-{i}" for i in range(50)]
    code = ("import sys, json; from neural_heatmap_contract.partition import partition; "
            "print(json.dumps([partition(m) for m in sys.argv[1:]]))")
    done = subprocess.run([sys.executable, "-c", code, *ids], capture_output=True, text=True,
                          check=True, env={"PYTHONHASHSEED": "random",
                                           "PYTHONPATH": str(ROOT / "contract/python")})
    assert json.loads(done.stdout) == [part.partition(m) for m in ids]
    assert len(set(json.loads(done.stdout))) > 20  # and they spread


def test_subjects_carry_any_valid_id_as_one_token() -> None:
    model, layer = "gpt.small *>", "blocks.0.attn"
    subject = part.frame_subject(model, layer)
    tokens = subject.split(".")
    assert tokens[:3] == ["nh", "act", "p"] and int(tokens[3]) == part.partition(model)
    assert len(tokens) == 6
    assert part.token_id(tokens[4]) == model and part.token_id(tokens[5]) == layer
    assert part.partition_subject(7) == "nh.act.p.7.>"
