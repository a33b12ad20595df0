//! Shared by the test roots: decoding a fixture into alerts with the real decoders.

use irene_core::Alert;

pub fn fixture(rel: &str) -> String {
    let path = format!(
        "{}/../sources/tests/fixtures/{rel}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The alerts `source`'s decoder makes of this JSON text (split like the ingest API does).
pub fn decode(source: &str, text: &str) -> Vec<Alert> {
    let items = irene_sources::split_payload(text.as_bytes(), &irene_sources::Limits::default())
        .unwrap_or_else(|e| panic!("split: {e:?}"));
    let decoder = irene_sources::decoder(source).unwrap_or_else(|| panic!("no decoder {source}"));
    items
        .iter()
        .flat_map(|item| {
            decoder
                .decode(item)
                .unwrap_or_else(|e| panic!("{source}: {e}"))
                .alerts
        })
        .collect()
}

/// The one alert of a fixture.
pub fn one(source: &str, text: &str) -> Alert {
    let mut alerts = decode(source, text);
    assert_eq!(alerts.len(), 1, "{source}: one alert expected");
    alerts.remove(0)
}
