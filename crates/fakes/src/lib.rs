//! Local stand-ins for the SaaS Irene talks to (GitHub, PagerDuty, Slack, a webhook receiver, the
//! reputation APIs, an OpenID Connect issuer, the Compute Engine API), served over real HTTP on 127.0.0.1 for tests. Nothing here may reach the real services.

/// Adds the methods every fake shares: URL, shutdown, faults and the request log.
macro_rules! impl_common {
    ($t:ty) => {
        impl $t {
            /// Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`.
            pub fn url(&self) -> String {
                self.inner.running.url.clone()
            }

            /// The bound socket address.
            pub fn addr(&self) -> std::net::SocketAddr {
                self.inner.running.addr
            }

            /// Stops accepting connections and closes the open ones.
            pub fn shutdown(&self) {
                self.inner.running.shutdown();
            }

            /// Queues a fault rule (first match wins; used up per matching request).
            pub fn fault(&self, fault: $crate::fault::Fault) {
                $crate::server::lock(&self.inner.common.faults).push(fault);
            }

            /// Replaces the chaos setting: random faults on a fraction of matching requests.
            pub fn chaos(&self, chaos: $crate::fault::Chaos) {
                $crate::server::lock(&self.inner.common.faults).set_chaos(chaos);
            }

            /// Removes every queued fault and the chaos setting.
            pub fn clear_faults(&self) {
                $crate::server::lock(&self.inner.common.faults).clear();
            }

            /// Every service request received so far, in arrival order.
            pub fn requests(&self) -> Vec<$crate::server::Recorded> {
                self.inner.common.requests()
            }
        }
    };
}
pub(crate) use impl_common;

pub mod fault;
pub mod gcp_compute;
pub mod github;
pub mod intel;
pub mod oidc;
pub mod pagerduty;
pub mod receiver;
pub(crate) mod server;
pub mod slack;

pub use fault::{Chaos, Fault, FaultKind};
pub use gcp_compute::{FakeGcpCompute, GcpFirewall, GcpInstance};
pub use github::{sign_webhook, Comment, FakeGitHub, Issue};
pub use intel::{FakeIntel, IntelApi};
pub use oidc::{FakeOidc, OidcUser, TokenFlaw};
pub use pagerduty::{FakePagerDuty, PdAlert};
pub use receiver::FakeReceiver;
pub use server::Recorded;
pub use slack::{FakeSlack, SlackMessage};
