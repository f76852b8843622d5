//! Splitting one scan across machines: `--shard I/N`.
//!
//! Address targets are split by permutation position (`p % N == I`, as zmap does), so each
//! machine gets a spread sample of every network and the shards cover the permutation exactly
//! once. Domain targets are split by a keyed hash of the normalised name, which every machine
//! computes alike: SipHash-2-4 with a fixed key, implemented here because std's `DefaultHasher`
//! may change between Rust releases and ahash is seeded per process.

use std::fmt;
use std::str::FromStr;

use super::ips::{IpTargets, Shuffled};

/// One shard of `count`, numbered from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// Why a shard spec is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardError {
    /// Not of the form `I/N`.
    Format(String),
    /// `I` or `N` is not a number.
    Number(String),
    ZeroCount,
    IndexOutOfRange {
        index: u32,
        count: u32,
    },
}

impl fmt::Display for ShardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardError::Format(t) => write!(f, "bad shard {t:?}: expected INDEX/COUNT, e.g. 0/4"),
            ShardError::Number(t) => write!(f, "bad shard number {t:?}: expected 0 to 4294967295"),
            ShardError::ZeroCount => write!(f, "shard count must be at least 1"),
            ShardError::IndexOutOfRange { index, count } => write!(
                f,
                "shard index {index} out of range for {count} shards: expected 0 to {} \
                 (shards are numbered from 0)",
                count - 1
            ),
        }
    }
}

impl std::error::Error for ShardError {}

impl Shard {
    /// The whole scan as one shard.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    pub fn new(index: u32, count: u32) -> Result<Shard, ShardError> {
        if count == 0 {
            return Err(ShardError::ZeroCount);
        }
        if index >= count {
            return Err(ShardError::IndexOutOfRange { index, count });
        }
        Ok(Shard { index, count })
    }

    /// Whether permutation position `pos` belongs to this shard.
    pub fn owns_position(&self, pos: u128) -> bool {
        pos % u128::from(self.count) == u128::from(self.index)
    }

    /// How many of `total` permutation positions belong to this shard.
    pub fn positions_of(&self, total: u128) -> u128 {
        let (n, i) = (u128::from(self.count), u128::from(self.index));
        total / n + u128::from(total % n > i)
    }

    /// This shard's addresses of `targets`, in the order keyed by `seed` (every shard must use
    /// the same seed).
    pub fn ips<'a>(&self, targets: &'a IpTargets, seed: u64) -> Shuffled<'a> {
        targets.shuffled_stride(seed, u128::from(self.index), u128::from(self.count))
    }

    /// Whether `domain` belongs to this shard (see [`domain_shard`]).
    pub fn owns_domain(&self, domain: &str) -> bool {
        domain_shard(domain, self.count) == self.index
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Shard, ShardError> {
        let (i, n) = s
            .trim()
            .split_once('/')
            .ok_or_else(|| ShardError::Format(s.to_string()))?;
        let num = |t: &str| {
            t.trim()
                .parse::<u32>()
                .map_err(|_| ShardError::Number(t.trim().to_string()))
        };
        Shard::new(num(i)?, num(n)?)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// SipHash key for domain sharding, an arbitrary fixed constant. Never
/// change it: every machine of a scan, and every release, must put a domain in the same shard.
pub const DOMAIN_HASH_KEY: (u64, u64) = (0x6d6f_642d_7961_7278, 0x0168_732d_6e69_616d);

/// The shard of `domain` among `count` (`count` >= 1): SipHash-2-4 under [`DOMAIN_HASH_KEY`] of
/// the name lowercased (ASCII) without a trailing dot, modulo `count`. Callers pass names already
/// converted to punycode, as the readers produce them.
pub fn domain_shard(domain: &str, count: u32) -> u32 {
    (domain_hash(domain) % u64::from(count.max(1))) as u32
}

/// The 64-bit hash behind [`domain_shard`].
pub fn domain_hash(domain: &str) -> u64 {
    let d = domain.trim();
    let d = d.strip_suffix('.').unwrap_or(d);
    let mut buf = [0u8; 256];
    if d.len() <= buf.len() {
        // Lowercase into a stack buffer: this runs once per input domain.
        let b = &mut buf[..d.len()];
        b.copy_from_slice(d.as_bytes());
        b.make_ascii_lowercase();
        siphash24(DOMAIN_HASH_KEY.0, DOMAIN_HASH_KEY.1, b)
    } else {
        siphash24(
            DOMAIN_HASH_KEY.0,
            DOMAIN_HASH_KEY.1,
            d.to_ascii_lowercase().as_bytes(),
        )
    }
}

/// SipHash-2-4 (Aumasson & Bernstein, "SipHash: a fast short-input PRF", 2012) with key
/// `(k0, k1)`, the two little-endian halves of the 16-byte key.
pub fn siphash24(k0: u64, k1: u64, data: &[u8]) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    let mut chunks = data.chunks_exact(8);
    for c in chunks.by_ref() {
        let m = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        v[3] ^= m;
        sip_round(&mut v);
        sip_round(&mut v);
        v[0] ^= m;
    }
    let mut last = [0u8; 8];
    let tail = chunks.remainder();
    last[..tail.len()].copy_from_slice(tail);
    last[7] = data.len() as u8;
    let b = u64::from_le_bytes(last);
    v[3] ^= b;
    sip_round(&mut v);
    sip_round(&mut v);
    v[0] ^= b;
    v[2] ^= 0xff;
    for _ in 0..4 {
        sip_round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13) ^ v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16) ^ v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21) ^ v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17) ^ v[2];
    v[2] = v[2].rotate_left(32);
}

#[cfg(test)]
mod tests {
    use super::super::ips::parse_range;
    use super::*;

    #[test]
    fn parse_table() {
        type Case<'a> = (&'a str, Result<(u32, u32), &'a str>);
        let cases: &[Case] = &[
            ("0/1", Ok((0, 1))),
            ("3/4", Ok((3, 4))),
            (" 2 / 8 ", Ok((2, 8))),
            (
                "4/4",
                Err(
                    "shard index 4 out of range for 4 shards: expected 0 to 3 (shards are numbered from 0)",
                ),
            ),
            ("0/0", Err("shard count must be at least 1")),
            ("1", Err("bad shard \"1\": expected INDEX/COUNT, e.g. 0/4")),
            (
                "-1/4",
                Err("bad shard number \"-1\": expected 0 to 4294967295"),
            ),
            (
                "a/4",
                Err("bad shard number \"a\": expected 0 to 4294967295"),
            ),
            ("1/", Err("bad shard number \"\": expected 0 to 4294967295")),
            (
                "1/2/3",
                Err("bad shard number \"2/3\": expected 0 to 4294967295"),
            ),
        ];
        for (input, want) in cases {
            let got = input.parse::<Shard>();
            match want {
                Ok((i, n)) => {
                    let s = got.unwrap();
                    assert_eq!((s.index, s.count), (*i, *n), "{input}");
                    assert_eq!(s.to_string().parse::<Shard>().unwrap(), s);
                }
                Err(msg) => assert_eq!(got.unwrap_err().to_string(), *msg, "{input}"),
            }
        }
    }

    #[test]
    fn siphash_reference_vectors() {
        // From the SipHash paper's appendix and the reference implementation's vectors.h:
        // key 00..0f, messages 00..(n-1).
        let (k0, k1) = (0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908);
        let msg: Vec<u8> = (0..64).collect();
        let cases: &[(usize, u64)] = &[
            (0, 0x726f_db47_dd0e_0e31),
            (1, 0x74f8_39c5_93dc_67fd),
            (7, 0xab02_00f5_8b01_d137),
            (8, 0x93f5_f579_9a93_2462),
            (15, 0xa129_ca61_49be_45e5),
        ];
        for (n, want) in cases {
            assert_eq!(siphash24(k0, k1, &msg[..*n]), *want, "length {n}");
        }
    }

    #[test]
    fn domain_hash_is_pinned_and_normalised() {
        let h = domain_hash("example.com");
        for same in ["EXAMPLE.com", "example.com.", " Example.Com. "] {
            assert_eq!(domain_hash(same), h, "{same}");
        }
        assert_eq!(
            h,
            siphash24(DOMAIN_HASH_KEY.0, DOMAIN_HASH_KEY.1, b"example.com")
        );
        let long = format!("{}.example", "a".repeat(300));
        assert_eq!(domain_hash(&long.to_uppercase()), domain_hash(&long));
    }

    #[test]
    fn four_shards_of_a_slash_16_partition_it() {
        let targets = IpTargets::new([parse_range("10.20.0.0/16").unwrap().range]);
        let mut seen = vec![0u8; 65_536];
        for index in 0..4 {
            let shard = Shard::new(index, 4).unwrap();
            let mut n = 0u128;
            for ip in shard.ips(&targets, 99) {
                let std::net::IpAddr::V4(v4) = ip else {
                    panic!("{ip}")
                };
                let o = v4.octets();
                seen[usize::from(o[2]) << 8 | usize::from(o[3])] += 1;
                n += 1;
            }
            assert_eq!(n, shard.positions_of(65_536));
            assert_eq!(n, 16_384);
        }
        assert!(seen.iter().all(|&c| c == 1));
    }

    #[test]
    fn positions_split_uneven_totals() {
        // (total, count, sizes per shard)
        let cases: &[(u128, u32, &[u128])] = &[
            (10, 4, &[3, 3, 2, 2]),
            (3, 4, &[1, 1, 1, 0]),
            (0, 2, &[0, 0]),
            (7, 1, &[7]),
        ];
        for (total, count, sizes) in cases {
            let targets = IpTargets::new((0..*total).map(|i| {
                super::super::ips::IpRange::single(
                    std::net::Ipv4Addr::from(0x0a00_0000 + i as u32).into(),
                )
            }));
            for (i, size) in sizes.iter().enumerate() {
                let s = Shard::new(i as u32, *count).unwrap();
                assert_eq!(s.positions_of(*total), *size);
                assert_eq!(s.ips(&targets, 1).count() as u128, *size);
                assert_eq!(
                    (0..*total).filter(|p| s.owns_position(*p)).count() as u128,
                    *size
                );
            }
        }
    }

    #[test]
    fn four_shards_of_10000_domains_partition_them() {
        let shards: Vec<Shard> = (0..4).map(|i| Shard::new(i, 4).unwrap()).collect();
        let mut sizes = [0usize; 4];
        for i in 0..10_000 {
            let d = format!("host{i}.example{}.com", i % 37);
            let owners: Vec<usize> = (0..4).filter(|s| shards[*s].owns_domain(&d)).collect();
            assert_eq!(owners.len(), 1, "{d}");
            sizes[owners[0]] += 1;
            assert!(shards[owners[0]].owns_domain(&d.to_uppercase()));
        }
        assert_eq!(sizes.iter().sum::<usize>(), 10_000);
        for s in sizes {
            assert!((2_300..=2_700).contains(&s), "{sizes:?}");
        }
    }
}
