#!/usr/bin/env python3
"""Builds the BENCHMARKS.md tables from criterion's output of `cargo bench` (both benches).

Reads target/criterion/<group>/<function>/new/estimates.json (the median of the last run) and
prints, per workload, the protocol's median, its floor's median (same run) and the ratio.
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")

# workload, target ratio (protocol / floor), bytes on the wire over the plaintext
WORKLOADS = [
    ("session_setup", "≤ 1.15", "prekey message: 75 + 58 + 16 = 149"),
    ("encrypt_decrypt_256B_same_chain", "≤ 1.5", "58 + 16 = 74 (raw); framed: padded to 256+, +74"),
    ("ratchet_roundtrip", "≤ 1.15", "74 per message"),
    ("encrypt_decrypt_64KiB", "throughput ≥ 85% (ratio ≤ 1.18)", "74"),
    ("out_of_order", "—", "74 per message"),
    ("sealed_sender", "≤ 1.2", "envelope: 81 + 16 + padding of (6 + certificate + message)"),
    ("pqxdh_setup", "≤ 1.15", "prekey message: 1648 + 58 + 16 = 1722"),
    ("group_encrypt_decrypt_256B", "≤ 1.2", "58 + 16 + 64 = 138"),
]

# Groups whose functions are not named protocol/floor: (group, function, floor function, target).
PAIRS = [
    ("group_seal_100", "seal", "seal_floor", "beside its floor"),
    ("group_seal_100", "open", "open_floor", "beside its floor"),
    ("attachment_16MiB", "protocol", "floor", "throughput ≥ 95% (ratio ≤ 1.053)"),
    ("attachment_16MiB", "protocol_with_digest", "floor_with_sha256", "beside its floor"),
]


def median_ns(group, function):
    path = ROOT / group / function / "new" / "estimates.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["median"]["point_estimate"]


def fmt(ns):
    if ns is None:
        return "—"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def main():
    print("| workload | protocol (median) | floor (median) | ratio | target | wire overhead (bytes) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for group, target, wire in WORKLOADS:
        p, f = median_ns(group, "protocol"), median_ns(group, "floor")
        ratio = f"{p / f:.2f}" if p and f else "—"
        print(f"| `{group}` | {fmt(p)} | {fmt(f)} | {ratio} | {target} | {wire} |")
    print()
    print("| workload | protocol (median) | floor (median) | ratio | target |")
    print("| --- | --- | --- | --- | --- |")
    for group, fn, floor_fn, target in PAIRS:
        p, f = median_ns(group, fn), median_ns(group, floor_fn)
        ratio = f"{p / f:.3f}" if p and f else "—"
        print(f"| `{group}/{fn}` | {fmt(p)} | {fmt(f)} | {ratio} | {target} |")
    print()
    print("| primitive (floor group) | median |")
    print("| --- | --- |")
    for fn in [
        "x25519_keygen", "x25519_dh", "ed25519_verify_strict", "ed25519_decompress",
        "ed25519_parse_identity", "x25519_subgroup_check", "hmac_sha256",
        "hkdf_sha256_44", "aes256gcm_seal_open_256B", "aes256gcm_seal_open_64KiB",
    ]:
        print(f"| `{fn}` | {fmt(median_ns('floor', fn))} |")
    for fn in ["serialize", "restore"]:
        print(f"| state `{fn}` (established session) | {fmt(median_ns('state', fn))} |")


if __name__ == "__main__":
    main()
