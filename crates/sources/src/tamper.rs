//! `irene.tamper`: the alerts Irene's own tamper watch raises, in Irene's generic shape with
//! the source set to `irene.tamper`. Never recognized by `auto`: only the watch sends them.

use crate::generic::Generic;
use crate::{DecodeError, Decoded, Decoder};
use serde_json::Value;

pub const SOURCE: &str = "irene.tamper";

pub struct Tamper;

impl Decoder for Tamper {
    fn name(&self) -> &'static str {
        SOURCE
    }

    fn recognizes(&self, _item: &Value) -> bool {
        false
    }

    fn decode(&self, item: &Value) -> Result<Decoded, DecodeError> {
        let mut decoded = Generic.decode(item)?;
        for a in &mut decoded.alerts {
            a.source = SOURCE.to_string();
        }
        Ok(decoded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_tamper_alert_is_a_generic_one_of_its_own_source() {
        let item = json!({"key": "tamper/shop", "title": "Web page changed: shop",
                          "severity": "high", "state": "resolved",
                          "resource": {"id": "https://shop.example.com/", "kind": "WebPage"}});
        let d = Tamper.decode(&item).expect("decodes");
        assert_eq!(d.alerts.len(), 1);
        assert_eq!(d.alerts[0].source, "irene.tamper");
        assert_eq!(d.alerts[0].key, "tamper/shop");
        assert_eq!(d.alerts[0].state, irene_core::AlertState::Resolved);
        assert!(
            !Tamper.recognizes(&item),
            "auto never takes it for a tamper alert"
        );
        assert!(Tamper.decode(&json!({"title": "no key"})).is_err());
    }
}
