//! Port ranges open to the world: collecting, merging, and turning them into the ports a
//! target lists for the probes (capped: `0-65535` stays a range in `open_ports` only).

use irene_investigate::exposure_seams::PortRange;

/// Ports listed per target at most; wider rules are left to `open_ports` (and a note).
pub const MAX_LISTED_PORTS: usize = 64;

/// Sorted, merged port ranges.
pub type PortSet = Vec<PortRange>;

pub trait PushRange {
    fn add(&mut self, from: u16, to: u16);
}

impl PushRange for PortSet {
    /// Adds `from..=to` and keeps the set sorted and merged.
    fn add(&mut self, from: u16, to: u16) {
        let (from, to) = if from <= to { (from, to) } else { (to, from) };
        let mut all = std::mem::take(self);
        all.push(PortRange { from, to });
        *self = normalize(all);
    }
}

fn normalize(mut all: Vec<PortRange>) -> Vec<PortRange> {
    all.sort_by_key(|r| (r.from, r.to));
    let mut out: Vec<PortRange> = Vec::with_capacity(all.len());
    for r in all {
        match out.last_mut() {
            Some(last) if u32::from(r.from) <= u32::from(last.to) + 1 => {
                last.to = last.to.max(r.to);
            }
            _ => out.push(r),
        }
    }
    out
}

/// The union of two sets.
pub fn merge(a: &[PortRange], b: &[PortRange]) -> PortSet {
    normalize(a.iter().chain(b).copied().collect())
}

/// The single ports of a set, when there are at most `MAX_LISTED_PORTS`; else the first
/// ones up to the cap and `true` (cut).
pub fn expand(set: &[PortRange]) -> (Vec<u16>, bool) {
    let mut ports = Vec::new();
    for r in set {
        for p in r.from..=r.to {
            if ports.len() >= MAX_LISTED_PORTS {
                return (ports, true);
            }
            ports.push(p);
        }
    }
    (ports, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(from: u16, to: u16) -> PortRange {
        PortRange { from, to }
    }

    #[test]
    fn merges_and_expands() {
        let mut s = PortSet::new();
        s.add(80, 80);
        s.add(22, 22);
        s.add(81, 90);
        s.add(85, 85);
        assert_eq!(s, vec![r(22, 22), r(80, 90)]);
        assert_eq!(merge(&s, &[r(23, 23)]), vec![r(22, 23), r(80, 90)]);
        let (ports, cut) = expand(&s);
        assert_eq!(ports.len(), 12);
        assert!(!cut);
        let (ports, cut) = expand(&[r(0, 65535)]);
        assert_eq!(ports.len(), MAX_LISTED_PORTS);
        assert!(cut);
        let mut all = PortSet::new();
        all.add(0, 65535);
        all.add(65535, 65535);
        assert_eq!(all, vec![r(0, 65535)]);
    }
}
