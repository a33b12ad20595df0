//! The seam every output kind implements ([`OutputKind`]: its own settings' checks, its client,
//! its planning quirks) and `output_kinds!`, which makes `OutputConfig` of the one list in lib.rs.
//! Must not know any particular kind.

use crate::config::OutputCommon;
use crate::plan::Quirks;
use crate::{Context, Output, OutputConfig};
use irene_core::Severity;
use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

/// One output kind's own settings (the `[[outputs]]` fields beyond [`OutputCommon`]), and what
/// the kind does with them. Implemented in the kind's module; registered in `lib.rs`'s list.
pub trait OutputKind: Send + Sync {
    /// `min_severity` of an entry that does not set it.
    fn default_min_severity() -> Severity
    where
        Self: Sized;
    /// How the planner treats this output.
    fn quirks(&self) -> Quirks;
    /// Problems with the kind's own settings (the shared ones are checked by `validate`).
    fn check(&self, err: &mut dyn FnMut(String));
    /// Builds the client.
    fn build(&self, b: &Build<'_>) -> Result<Arc<dyn Output>, String>;
    /// Each credential setting of the kind and whether it is set (the console shows "set" or
    /// "not set", never a value).
    fn credentials(&self) -> Vec<(&'static str, bool)>;
}

/// What building one output's client needs besides the kind's own settings.
pub struct Build<'a> {
    pub common: &'a OutputCommon,
    pub ctx: &'a Context,
    /// What the outputs built together share.
    pub shared: &'a Shared<'a>,
}

/// What the outputs built together share: every configuration, and values made once per key
/// (GitHub outputs with the same credentials share one rate-limit gate).
pub struct Shared<'a> {
    configs: &'a [OutputConfig],
    made: RefCell<HashMap<String, Arc<dyn Any + Send + Sync>>>,
}

impl<'a> Shared<'a> {
    pub(crate) fn new(configs: &'a [OutputConfig]) -> Self {
        Shared {
            configs,
            made: RefCell::new(HashMap::new()),
        }
    }

    /// Every output being built, in order.
    pub fn configs(&self) -> &'a [OutputConfig] {
        self.configs
    }

    /// The value kept under `key`, made by `make` the first time it is asked for.
    pub fn get_or_make<T: Any + Send + Sync>(
        &self,
        key: &str,
        make: impl FnOnce() -> T,
    ) -> Result<Arc<T>, String> {
        let kept = self.made.borrow().get(key).cloned();
        let value = match kept {
            Some(v) => v,
            None => {
                // made with no borrow held: `make` may ask for other shared values
                let v: Arc<dyn Any + Send + Sync> = Arc::new(make());
                self.made
                    .borrow_mut()
                    .insert(key.to_string(), Arc::clone(&v));
                v
            }
        };
        value
            .downcast::<T>()
            .map_err(|_| format!("internal: the shared value {key:?} has another type"))
    }
}

/// Declares `OutputConfig` from the list of kinds: `Variant = "type" => Settings`, where
/// `Settings: OutputKind + Deserialize`. Each kind is one line; nothing else names them all.
macro_rules! output_kinds {
    ($( $variant:ident = $tag:literal => $settings:ty ),+ $(,)?) => {
        /// One `[[outputs]]` entry, chosen by its `type`: the shared settings and the kind's own.
        #[derive(Debug, Clone, PartialEq, serde::Deserialize)]
        #[serde(tag = "type")]
        pub enum OutputConfig {
            $( #[serde(rename = $tag)] $variant($crate::config::Entry<$settings>), )+
        }

        impl OutputConfig {
            /// The settings every kind shares, and the kind's own behind [`kind::OutputKind`].
            pub fn parts(&self) -> (&$crate::config::OutputCommon, &dyn $crate::kind::OutputKind) {
                match self {
                    $( OutputConfig::$variant(e) => (&e.common, &e.kind), )+
                }
            }

            /// The shared settings, to change (a routes document overrides `min_severity`
            /// and `when`).
            pub fn common_mut(&mut self) -> &mut $crate::config::OutputCommon {
                match self {
                    $( OutputConfig::$variant(e) => &mut e.common, )+
                }
            }

            /// Each credential setting and whether it is set; never a value.
            pub fn credentials(&self) -> Vec<(&'static str, bool)> {
                self.parts().1.credentials()
            }

            /// Its `type`: `"github" | "pagerduty" | "slack" | "webhook"`.
            pub fn kind(&self) -> &'static str {
                match self {
                    $( OutputConfig::$variant(_) => $tag, )+
                }
            }
        }
    };
}
pub(crate) use output_kinds;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_values_are_made_once_per_key() {
        let shared = Shared::new(&[]);
        let a = shared.get_or_make("k", || 1u32);
        let b = shared.get_or_make("k", || 2u32);
        let c = shared.get_or_make("other", || 3u32);
        assert_eq!(
            (a.as_deref(), b.as_deref(), c.as_deref()),
            (Ok(&1), Ok(&1), Ok(&3))
        );
        assert!(shared.get_or_make("k", || "text").is_err());
    }
}
