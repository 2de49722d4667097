"""Print the shipped weights as a Markdown table, from their cards (methods/weights/*.json)."""

import json
from pathlib import Path

W = Path(__file__).resolve().parents[1] / "methods" / "weights"
print(
    "| weights | parameters | size | data | steps x batch x patch | CPU training time | final validation (held-out BSD200) |"
)
print("|---|---:|---:|---|---|---:|---|")
for card_path in sorted(W.glob("*.json")):
    c = json.loads(card_path.read_text())
    size = (W / f"{c['name']}.safetensors").stat().st_size / 1e6
    val = ", ".join(f"{k} {v}" for k, v in c["final_validation"].items())
    data = (
        ", ".join(c["data"]["datasets"])
        if len(c["data"]["datasets"]) < 3
        else f"{c['data']['datasets'][0]} … ({len(c['data']['datasets'])} sets)"
    )
    init = f" (from {c['init'].removesuffix('.safetensors')})" if c.get("init") else ""
    print(
        f"| {c['name']}{init} | {c['parameters']:,} | {size:.1f} MB | {data} | {c['steps']} x {c['batch']} x {c['patch']} | "
        f"{c['train_seconds'] / 60:.1f} min | {val} |"
    )
