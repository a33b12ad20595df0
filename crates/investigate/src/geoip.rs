//! The `geoip` investigator and `GeoDb`, MaxMind mmdb lookups (GeoLite2 City and ASN) over bytes.
//! Reads no files: the caller reads the mmdb files and hands their bytes to `GeoDb::from_bytes`.
//!
//! Findings (`enrichment.geoip.<field>`), for the alert's first IP that has data (the actor's
//! IP when it has one):
//! - `country`: ISO code (`"NL"`), `city`: English name, `asn`: number, `org`: AS organisation;
//! - `countries`: every distinct country code of the alert's IPs, sorted;
//! - `ips`: `{ip: {country, country_name, city, asn, org}}` for every IP with data.

use crate::{ips_of, markdown, Context, Input, Investigator, Outcome};
use maxminddb::{geoip2, Reader};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

pub const NAME: &str = "geoip";

/// An mmdb that could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error("the {db} database is not a valid mmdb: {source}")]
    Open {
        db: &'static str,
        source: maxminddb::MaxMindDbError,
    },
    #[error("looking up {ip} in the {db} database: {source}")]
    Lookup {
        db: &'static str,
        ip: IpAddr,
        source: maxminddb::MaxMindDbError,
    },
}

/// What the databases say about one IP.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct GeoInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
}

impl GeoInfo {
    pub fn is_empty(&self) -> bool {
        *self == GeoInfo::default()
    }
}

/// GeoLite2 City (or Country) and ASN databases, either or both.
pub struct GeoDb {
    city: Option<Reader<Vec<u8>>>,
    asn: Option<Reader<Vec<u8>>>,
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDb")
            .field("city", &self.city.is_some())
            .field("asn", &self.asn.is_some())
            .finish()
    }
}

impl GeoDb {
    /// Opens the databases from their bytes (either may be absent).
    pub fn from_bytes(city: Option<Vec<u8>>, asn: Option<Vec<u8>>) -> Result<Self, GeoError> {
        let city = city
            .map(Reader::from_source)
            .transpose()
            .map_err(|source| GeoError::Open { db: "city", source })?;
        let asn = asn
            .map(Reader::from_source)
            .transpose()
            .map_err(|source| GeoError::Open { db: "asn", source })?;
        Ok(GeoDb { city, asn })
    }

    /// What the databases know of `ip` (empty when nothing).
    pub fn lookup(&self, ip: IpAddr) -> Result<GeoInfo, GeoError> {
        let mut info = GeoInfo::default();
        if let Some(reader) = &self.city {
            let err = |source| GeoError::Lookup {
                db: "city",
                ip,
                source,
            };
            let found = reader.lookup(ip).map_err(err)?;
            if let Some(city) = found.decode::<geoip2::City>().map_err(err)? {
                info.country = city.country.iso_code.map(str::to_string);
                info.country_name = city.country.names.english.map(str::to_string);
                info.city = city.city.names.english.map(str::to_string);
            }
        }
        if let Some(reader) = &self.asn {
            let err = |source| GeoError::Lookup {
                db: "asn",
                ip,
                source,
            };
            let found = reader.lookup(ip).map_err(err)?;
            if let Some(asn) = found.decode::<geoip2::Asn>().map_err(err)? {
                info.asn = asn.autonomous_system_number;
                info.org = asn.autonomous_system_organization.map(str::to_string);
            }
        }
        Ok(info)
    }

    /// The autonomous system of `ip`, if the ASN database knows it.
    pub fn asn(&self, ip: IpAddr) -> Option<u32> {
        let reader = self.asn.as_ref()?;
        let found = reader.lookup(ip).ok()?;
        found
            .decode::<geoip2::Asn>()
            .ok()??
            .autonomous_system_number
    }
}

/// Country, city, ASN and organisation of the alert's IPs.
pub struct GeoIp {
    db: Arc<GeoDb>,
}

impl GeoIp {
    pub fn new(db: Arc<GeoDb>) -> Self {
        GeoIp { db }
    }

    /// Registered only when a database is configured.
    pub(crate) fn build(ctx: &Context) -> Option<Arc<dyn Investigator>> {
        let db = ctx.geo.clone()?;
        Some(Arc::new(GeoIp::new(db)))
    }
}

#[async_trait::async_trait]
impl Investigator for GeoIp {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn investigate(&self, input: &Input<'_>) -> Outcome {
        let ips = ips_of(input.alert);
        if ips.is_empty() {
            return Outcome::nothing_found(json!({}), "No IP address in this alert.");
        }
        let mut per_ip = serde_json::Map::new();
        let mut rows = Vec::new();
        let mut countries = BTreeSet::new();
        let mut first: Option<GeoInfo> = None;
        for ip in &ips {
            let info = match self.db.lookup(*ip) {
                Ok(info) => info,
                Err(e) => return Outcome::failed(e.to_string()),
            };
            if info.is_empty() {
                continue;
            }
            if let Some(c) = &info.country {
                countries.insert(c.clone());
            }
            rows.push(vec![
                ip.to_string(),
                info.country.clone().unwrap_or_default(),
                info.city.clone().unwrap_or_default(),
                info.asn.map(|a| format!("AS{a}")).unwrap_or_default(),
                info.org.clone().unwrap_or_default(),
            ]);
            per_ip.insert(ip.to_string(), json!(info));
            if first.is_none() {
                first = Some(info);
            }
        }
        let Some(first) = first else {
            return Outcome::nothing_found(
                json!({"ips": {}, "countries": []}),
                format!("No GeoIP data for {} address(es).", ips.len()),
            );
        };
        let findings = json!({
            "country": first.country,
            "city": first.city,
            "asn": first.asn,
            "org": first.org,
            "countries": countries,
            "ips": per_ip,
        });
        let summary = format!(
            "**GeoIP**: {}\n\n{}",
            countries.iter().cloned().collect::<Vec<_>>().join(", "),
            markdown::table_folded(
                "GeoIP by address",
                &["IP", "Country", "City", "ASN", "Organisation"],
                &rows,
                5
            )
        );
        Outcome::done(findings, summary)
    }
}
