//! Outside audit of the accounts layer's enforcement point, `Contact` (SPEC.md §15.3, §15.5),
//! with `DeviceListView` / `DeviceList` (§15.1–§15.2) as the contact drives them.
//!
//! `broken_*` tests demonstrate a finding: they pass while asserting the bad behaviour (so
//! they fail once it is fixed, and must then be turned around). `holds_*` tests are attacks the
//! code withstood. Every test is deterministic (fixed seeds) and judges by bytes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "../common/mod.rs"]
mod common;

mod blob;
mod fanout;
mod props;
mod receive;
mod support;
mod view;
