//! An answer datagram decoded straight into an [`Answer`].
//!
//! Written around hickory rather than through its `Message`: a profile of the engine against Knot
//! put hickory's message decoding at about a fifth of the engine's user-space CPU, most of it on
//! what mxray never reads: every record's owner name (allocated and checked), the question, the
//! OPT record's options, glue and signatures. Here those are walked over by their lengths; the
//! records that are read (the asked type's, the SOA of a negative answer) are still decoded by
//! hickory's `RData::read` on the whole message (so compression works), and give hickory's
//! values. Most rules hickory applies to a message's structure are kept (lengths within the
//! message, label types, no empty record outside an UPDATE, OPT only once and only in the
//! additional section with the root name, the extended RCODE from OPT); what is not checked is
//! the content of records mxray does not read, nor where a skipped name's compression pointer
//! leads, so a response whose glue is malformed still gives its answer. Where hickory's `Message`
//! decodes a datagram, the result must be [`interpret`]'s: a differential unit test and
//! the `dns_answer` fuzz target (docs/FUZZING.md) hold it to that.

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use hickory_proto::serialize::binary::{BinDecoder, DecodeError, Restrict};

use super::{Answer, Rdata, Status, normalize_name};

/// What a datagram says.
#[derive(Debug)]
pub enum Decoded {
    /// TC bit: the answer did not fit, ask over TCP.
    Truncated,
    Answer(Answer),
}

/// Why a datagram is not a decodable answer.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("message ends at byte {0} inside a header, name or record")]
    Short(usize),
    #[error("bad name label at byte {0}")]
    BadLabel(usize),
    #[error("record of type {0} without data outside an UPDATE")]
    EmptyRecord(u16),
    #[error("record of type {0} outside the additional section")]
    NotInAdditional(u16),
    #[error("OPT record whose owner is not the root")]
    OptNotRoot,
    #[error("more than one OPT record")]
    DuplicateEdns,
    #[error("record data: {0}")]
    Rdata(#[from] DecodeError),
}

const OPT: u16 = 41;
const SIG: u16 = 24;
const TSIG: u16 = 250;
const OPCODE_UPDATE: u8 = 5;

struct Cursor<'a> {
    msg: &'a [u8],
    pos: usize,
}

/// One resource record's fixed fields, its data left in place.
struct Rr {
    rtype: u16,
    ttl: u32,
    /// Where the data starts in the message, and its length.
    at: usize,
    len: u16,
    /// The owner is the root name.
    root: bool,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], AnswerError> {
        let end = self.pos + n;
        let s = self
            .msg
            .get(self.pos..end)
            .ok_or(AnswerError::Short(self.pos))?;
        self.pos = end;
        Ok(s)
    }

    fn u16(&mut self) -> Result<u16, AnswerError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, AnswerError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Steps over a name (labels up to a zero or a compression pointer); whether it is the root.
    fn skip_name(&mut self) -> Result<bool, AnswerError> {
        let mut first = true;
        loop {
            let at = self.pos;
            let len = self.take(1)?[0];
            match len & 0xC0 {
                0x00 if len == 0 => return Ok(first),
                0x00 => {
                    self.take(len as usize)?;
                }
                0xC0 => {
                    let lo = self.take(1)?[0];
                    if !first {
                        return Ok(false);
                    }
                    // A name that is only a pointer is the root if it points at a zero byte.
                    let target = (usize::from(len & 0x3F) << 8) | usize::from(lo);
                    return Ok(self.msg.get(target) == Some(&0));
                }
                _ => return Err(AnswerError::BadLabel(at)),
            }
            first = false;
        }
    }

    fn record(&mut self) -> Result<Rr, AnswerError> {
        let root = self.skip_name()?;
        let rtype = self.u16()?;
        let _class = self.u16()?;
        let ttl = self.u32()?;
        let len = self.u16()?;
        let at = self.pos;
        self.take(len as usize)?;
        Ok(Rr {
            rtype,
            ttl,
            at,
            len,
            root,
        })
    }
}

/// hickory's decoding of one record's data, in place in the whole message.
fn rdata(msg: &[u8], rr: &Rr) -> Result<RData, AnswerError> {
    let rtype = RecordType::from(rr.rtype);
    if rr.len == 0 {
        // Only reached in an UPDATE (see `section_rules`): hickory's "any data" placeholder.
        return Ok(RData::Update0(rtype));
    }
    // Messages are at most 65,535 bytes (UDP and TCP alike), so every offset fits.
    let mut d = BinDecoder::new(msg).clone(rr.at as u16);
    Ok(RData::read(&mut d, rtype, Restrict::new(rr.len))?)
}

/// A SOA's MINIMUM, read where hickory's `SOA::read_data` reads it (after MNAME, RNAME and four
/// 32-bit fields, within the record's data); None for an empty record (an UPDATE's), as `rdata`
/// gives no SOA then. Only this field of a SOA is used, and most answers of a domain scan are
/// negative: decoding the two names with hickory (each one allocated) was ~5% of a scan's
/// instructions (callgrind, 2026-12-06). Where hickory decodes the message, the names are valid
/// and end where they end here, so the value is hickory's.
fn soa_minimum(msg: &[u8], rr: &Rr) -> Result<Option<u32>, AnswerError> {
    if rr.len == 0 {
        return Ok(None);
    }
    let end = rr.at + usize::from(rr.len);
    let mut c = Cursor {
        msg: msg.get(..end).ok_or(AnswerError::Short(end))?,
        pos: rr.at,
    };
    c.skip_name()?;
    c.skip_name()?;
    c.take(16)?;
    Ok(Some(c.u32()?))
}

/// hickory's `Message::read_records`: a record without data only in an UPDATE (OPT aside).
fn not_empty(rr: &Rr, opcode: u8) -> Result<(), AnswerError> {
    if rr.len == 0 && rr.rtype != OPT && opcode != OPCODE_UPDATE {
        return Err(AnswerError::EmptyRecord(rr.rtype));
    }
    Ok(())
}

/// The rules hickory's `Message::read_records` applies to the answer and authority sections.
fn section_rules(rr: &Rr, opcode: u8) -> Result<(), AnswerError> {
    if matches!(rr.rtype, OPT | SIG | TSIG) {
        return Err(AnswerError::NotInAdditional(rr.rtype));
    }
    not_empty(rr, opcode)
}

/// Decodes the answer to a question of type `rtype` (the question itself is matched before).
pub fn decode(msg: &[u8], rtype: RecordType) -> Result<Decoded, AnswerError> {
    if msg.len() < 12 {
        return Err(AnswerError::Short(msg.len()));
    }
    let (f1, f2) = (msg[2], msg[3]);
    if f1 & 0x02 != 0 {
        return Ok(Decoded::Truncated);
    }
    let opcode = (f1 & 0x78) >> 3;
    let authoritative = f1 & 0x04 != 0;
    let recursion_available = f2 & 0x80 != 0;
    let authentic = f2 & 0x20 != 0;
    let count = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]);
    let (qd, an, ns, ar) = (count(4), count(6), count(8), count(10));
    let mut c = Cursor { msg, pos: 12 };
    for _ in 0..qd {
        c.skip_name()?;
        c.take(4)?;
    }
    let want = u16::from(rtype);
    let low = f2 & 0x0F;
    let mut records = Vec::new();
    let mut ttl = u32::MAX;
    for _ in 0..an {
        let rr = c.record()?;
        section_rules(&rr, opcode)?;
        if rr.rtype == want {
            ttl = ttl.min(rr.ttl);
            records.push(convert(&rdata(msg, &rr)?));
        }
    }
    // A negative answer's TTL comes from the authority's SOA, decoded only when the answer may be
    // negative (NXDOMAIN, or NOERROR without the asked records).
    let negative = low == 3 || (low == 0 && records.is_empty());
    let mut negative_ttl = None;
    let mut authority_ns = false;
    for _ in 0..ns {
        let rr = c.record()?;
        section_rules(&rr, opcode)?;
        authority_ns |= rr.rtype == u16::from(RecordType::NS);
        if rr.rtype == u16::from(RecordType::SOA)
            && negative
            && negative_ttl.is_none()
            && let Some(minimum) = soa_minimum(msg, &rr)?
        {
            negative_ttl = Some(rr.ttl.min(minimum));
        }
    }
    let mut rcode_high = None;
    for _ in 0..ar {
        let rr = c.record()?;
        if rr.rtype == OPT {
            if !rr.root {
                return Err(AnswerError::OptNotRoot);
            }
            if rcode_high.is_some() {
                return Err(AnswerError::DuplicateEdns);
            }
            rcode_high = Some((rr.ttl >> 24) as u8);
        }
        not_empty(&rr, opcode)?;
    }
    let rcode = ResponseCode::from(rcode_high.unwrap_or(0), low);
    let status = match rcode {
        ResponseCode::NoError => Status::Ok,
        ResponseCode::NXDomain => Status::NxDomain,
        ResponseCode::ServFail => Status::ServFail,
        ResponseCode::Refused => Status::Refused,
        other => {
            return Ok(Decoded::Answer(Answer::failure(
                Status::Error,
                format!("rcode {other}"),
            )));
        }
    };
    let negative_answer = |status| Answer {
        status,
        records: Vec::new(),
        ttl: negative_ttl.unwrap_or(0),
        error: None,
        authentic,
    };
    let answer = match status {
        Status::NxDomain => negative_answer(Status::NxDomain),
        Status::Ok if !records.is_empty() => Answer {
            status: Status::Ok,
            records,
            ttl,
            error: None,
            authentic,
        },
        // An empty NOERROR that carries NS records and is neither authoritative nor from a
        // recursive server is a referral: the "resolver" is an authoritative server for a parent
        // zone and knows nothing about the name itself. Calling that "no record" would be a lie.
        Status::Ok if !authoritative && !recursion_available && an == 0 && authority_ns => {
            Answer::failure(
                Status::Error,
                "referral: the server is not recursive for this name",
            )
        }
        Status::Ok => negative_answer(Status::NoData),
        _ => Answer::failure(status, format!("rcode {rcode}")),
    };
    Ok(Decoded::Answer(answer))
}

/// The same verdict from hickory's decoded `Message`: the path [`decode`] replaced, kept as the
/// reference it is held to (the unit tests below, the `dns_answer` fuzz target, the `parse`
/// micro-benchmark).
pub fn interpret(msg: Message, rtype: RecordType) -> Answer {
    let rcode = msg.metadata.response_code;
    let authentic = msg.metadata.authentic_data;
    let status = match rcode {
        ResponseCode::NoError => Status::Ok,
        ResponseCode::NXDomain => Status::NxDomain,
        ResponseCode::ServFail => Status::ServFail,
        ResponseCode::Refused => Status::Refused,
        other => {
            return Answer::failure(Status::Error, format!("rcode {other}"));
        }
    };
    let negative_ttl = || {
        msg.authorities
            .iter()
            .find_map(|r| match &r.data {
                RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
                _ => None,
            })
            .unwrap_or(0)
    };
    match status {
        Status::Ok => {}
        Status::NxDomain => {
            return Answer {
                status,
                records: Vec::new(),
                ttl: negative_ttl(),
                error: None,
                authentic,
            };
        }
        _ => return Answer::failure(status, format!("rcode {rcode}")),
    }
    let mut records = Vec::new();
    let mut ttl = u32::MAX;
    for r in &msg.answers {
        if r.record_type() != rtype {
            continue;
        }
        ttl = ttl.min(r.ttl);
        records.push(convert(&r.data));
    }
    if !records.is_empty() {
        return Answer {
            status: Status::Ok,
            records,
            ttl,
            error: None,
            authentic,
        };
    }
    // An empty NOERROR that carries NS records and is neither authoritative nor from a recursive
    // server is a referral: the "resolver" is an authoritative server for a parent zone and knows
    // nothing about the name itself. Calling that "no record" would be a lie.
    let referral = !msg.metadata.authoritative
        && !msg.metadata.recursion_available
        && msg.answers.is_empty()
        && msg
            .authorities
            .iter()
            .any(|r| r.record_type() == RecordType::NS);
    if referral {
        return Answer::failure(
            Status::Error,
            "referral: the server is not recursive for this name",
        );
    }
    Answer {
        status: Status::NoData,
        records: Vec::new(),
        ttl: negative_ttl(),
        error: None,
        authentic,
    }
}

/// An asked record's data as mxray keeps it.
fn convert(data: &RData) -> Rdata {
    match data {
        RData::A(a) => Rdata::A(a.0),
        RData::AAAA(a) => Rdata::Aaaa(a.0),
        RData::MX(mx) => Rdata::Mx {
            preference: mx.preference,
            exchange: normalize_name(&mx.exchange),
        },
        RData::TXT(txt) => Rdata::Txt(txt.txt_data.clone()),
        RData::PTR(p) => Rdata::Ptr(normalize_name(&p.0)),
        RData::CNAME(c) => Rdata::Cname(normalize_name(&c.0)),
        RData::SOA(soa) => Rdata::Soa {
            mname: normalize_name(&soa.mname),
            rname: normalize_name(&soa.rname),
        },
        RData::TLSA(t) => Rdata::Tlsa {
            usage: t.cert_usage.into(),
            selector: t.selector.into(),
            matching: t.matching.into(),
        },
        other => Rdata::Other(u16::from(other.record_type())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::Rdata;
    use crate::dns::engine::encode_query;
    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
    use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, PTR, SOA, TLSA, TXT};
    use hickory_proto::rr::{Name, Record};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    const ASKED: [RecordType; 9] = [
        RecordType::A,
        RecordType::AAAA,
        RecordType::MX,
        RecordType::TXT,
        RecordType::CNAME,
        RecordType::PTR,
        RecordType::SOA,
        RecordType::NS,
        RecordType::TLSA,
    ];

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    /// The old path's verdict on `bytes`, when hickory decodes them: what `decode` must give.
    fn reference(bytes: &[u8], rtype: RecordType) -> Option<Result<Answer, ()>> {
        let msg = Message::from_vec(bytes).ok()?;
        Some(if msg.metadata.truncation {
            Err(())
        } else {
            Ok(interpret(msg, rtype))
        })
    }

    fn agree(bytes: &[u8], rtype: RecordType, what: &str) {
        let Some(want) = reference(bytes, rtype) else {
            // hickory refuses it: `decode` may refuse it too, or read what mxray uses of it; it
            // must not panic (it just ran).
            let _ = decode(bytes, rtype);
            return;
        };
        match (decode(bytes, rtype), want) {
            (Ok(Decoded::Truncated), Err(())) => {}
            (Ok(Decoded::Answer(got)), Ok(want)) => {
                assert_eq!(got, want, "{what}, asked {rtype}: {bytes:02x?}")
            }
            (got, want) => panic!("{what}, asked {rtype}: got {got:?}, hickory {want:?}"),
        }
    }

    fn random_name(rng: &mut StdRng) -> Name {
        const LABELS: [&str; 6] = ["example", "com", "mx1", "Mail", "x-y", "_dmarc"];
        let n = rng.random_range(1..4);
        let mut s = String::new();
        for _ in 0..n {
            s.push_str(LABELS[rng.random_range(0..LABELS.len())]);
            s.push('.');
        }
        name(&s)
    }

    fn random_record(rng: &mut StdRng) -> Record {
        let owner = random_name(rng);
        let ttl = rng.random_range(0..100_000);
        let data = match rng.random_range(0..9) {
            0 => RData::A(A::new(127, 0, 0, rng.random())),
            1 => RData::AAAA(AAAA::new(0xfd00, 0, 0, 0, 0, 0, 0, rng.random())),
            2 => RData::MX(MX::new(rng.random(), random_name(rng))),
            3 => {
                let strings = (0..rng.random_range(1..4))
                    .map(|i| format!("v=spf1 part{i} {}", "x".repeat(rng.random_range(0..200))))
                    .collect();
                RData::TXT(TXT::new(strings))
            }
            4 => RData::CNAME(CNAME(random_name(rng))),
            5 => RData::PTR(PTR(random_name(rng))),
            6 => RData::SOA(SOA::new(
                random_name(rng),
                random_name(rng),
                1,
                2,
                3,
                4,
                rng.random(),
            )),
            7 => RData::NS(NS(random_name(rng))),
            _ => RData::TLSA(TLSA::new(
                rng.random_range(0..4u8).into(),
                rng.random_range(0..2u8).into(),
                rng.random_range(0..3u8).into(),
                vec![0xab; 32],
            )),
        };
        Record::from_rdata(owner, ttl, data)
    }

    fn random_message(rng: &mut StdRng) -> Message {
        let mut m = Message::new(rng.random(), MessageType::Response, OpCode::Query);
        m.metadata.authoritative = rng.random_bool(0.3);
        m.metadata.recursion_available = rng.random_bool(0.7);
        m.metadata.authentic_data = rng.random_bool(0.2);
        m.metadata.truncation = rng.random_bool(0.05);
        m.metadata.response_code = [
            ResponseCode::NoError,
            ResponseCode::NoError,
            ResponseCode::NXDomain,
            ResponseCode::ServFail,
            ResponseCode::Refused,
            ResponseCode::FormErr,
        ][rng.random_range(0..6)];
        m.add_query(Query::query(
            name("example.com."),
            ASKED[rng.random_range(0..9)],
        ));
        for _ in 0..rng.random_range(0..5) {
            m.add_answer(random_record(rng));
        }
        for _ in 0..rng.random_range(0..3) {
            m.add_authority(random_record(rng));
        }
        for _ in 0..rng.random_range(0..3) {
            m.add_additional(random_record(rng));
        }
        if rng.random_bool(0.8) {
            let mut edns = Edns::new();
            edns.set_max_payload(1232);
            // Now and then an extended RCODE (BADVERS and others above 15).
            edns.set_rcode_high(if rng.random_bool(0.1) { 1 } else { 0 });
            m.set_edns(edns);
        }
        m
    }

    #[test]
    fn decoding_agrees_with_hickorys_message_on_random_and_damaged_answers() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut checked = 0;
        for i in 0..3000 {
            let bytes = random_message(&mut rng).to_vec().unwrap();
            for rtype in ASKED {
                agree(&bytes, rtype, &format!("message {i}"));
            }
            // Damaged copies: a byte changed, a few bytes changed, cut short.
            for _ in 0..8 {
                let mut bad = bytes.clone();
                match rng.random_range(0..3) {
                    0 => {
                        let at = rng.random_range(0..bad.len());
                        bad[at] = rng.random();
                    }
                    1 => {
                        for _ in 0..4 {
                            let at = rng.random_range(2..bad.len());
                            bad[at] ^= 1 << rng.random_range(0..8);
                        }
                    }
                    _ => bad.truncate(rng.random_range(0..bad.len())),
                }
                let rtype = ASKED[rng.random_range(0..9)];
                if Message::from_vec(&bad).is_ok() {
                    checked += 1;
                }
                agree(&bad, rtype, &format!("damaged copy of message {i}"));
            }
        }
        // The damaged copies that hickory still decodes are where the two could part; enough
        // of them must have been compared for the test to mean something.
        assert!(checked > 2000, "only {checked} damaged messages decodable");
    }

    fn response(rtype: RecordType) -> Message {
        response_named("example.com", rtype)
    }

    fn response_named(qname: &str, rtype: RecordType) -> Message {
        let q = encode_query(qname, rtype, 1232, false).unwrap();
        let q = Message::from_vec(&q).unwrap();
        let mut m = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
        m.metadata.recursion_available = true;
        m.add_queries(q.queries.clone());
        m
    }

    fn answer(bytes: &[u8], rtype: RecordType) -> Answer {
        match decode(bytes, rtype).unwrap() {
            Decoded::Answer(a) => a,
            Decoded::Truncated => panic!("truncated"),
        }
    }

    #[test]
    fn glue_that_hickory_refuses_does_not_hide_the_answer() {
        let mut m = response(RecordType::MX);
        m.add_answer(Record::from_rdata(
            name("example.com."),
            300,
            RData::MX(MX::new(10, name("mx.example.com."))),
        ));
        m.add_additional(Record::from_rdata(
            name("mx.example.com."),
            300,
            RData::A(A::new(127, 0, 0, 1)),
        ));
        let mut bytes = m.to_vec().unwrap();
        // The glue's A record claims 3 bytes of data: an A record's data is 4.
        let n = bytes.len();
        assert_eq!(&bytes[n - 6..n - 4], &[0, 4]);
        bytes[n - 5] = 3;
        bytes.truncate(n - 1);
        assert!(Message::from_vec(&bytes).is_err());
        let a = answer(&bytes, RecordType::MX);
        assert_eq!(a.status, Status::Ok);
        assert_eq!(
            a.records,
            [Rdata::Mx {
                preference: 10,
                exchange: "mx.example.com".into()
            }]
        );
    }

    #[test]
    fn structure_errors_and_truncation() {
        let mut m = response(RecordType::TXT);
        m.add_answer(Record::from_rdata(
            name("example.com."),
            60,
            RData::TXT(TXT::new(vec!["v=spf1 -all".into()])),
        ));
        let bytes = m.to_vec().unwrap();
        let cases: [(&str, Vec<u8>, &str); 4] = [
            ("header cut", bytes[..11].to_vec(), "Short(11)"),
            ("record cut", bytes[..bytes.len() - 3].to_vec(), "Short"),
            (
                "label type 01",
                {
                    let mut b = bytes.clone();
                    b[12] = 0x40;
                    b
                },
                "BadLabel(12)",
            ),
            (
                "record data longer than the message",
                {
                    let mut b = bytes.clone();
                    let at = b.len() - 14;
                    b[at] = 0xff;
                    b
                },
                "Short",
            ),
        ];
        for (what, b, want) in cases {
            let got = format!("{:?}", decode(&b, RecordType::TXT));
            assert!(got.contains(want), "{what}: {got}");
        }
        // TC: TCP, whatever follows the header (a truncated answer may end anywhere).
        let mut tc = bytes[..20].to_vec();
        tc[2] |= 0x02;
        assert!(matches!(
            decode(&tc, RecordType::TXT),
            Ok(Decoded::Truncated)
        ));
    }

    /// The decoder's verdict on `m`'s bytes, asserted equal to the reference's on `m`.
    fn both(m: Message, rtype: RecordType) -> Answer {
        let got = answer(&m.to_vec().unwrap(), rtype);
        assert_eq!(got, interpret(m, rtype));
        got
    }

    #[test]
    fn both_paths_give_every_status() {
        let soa = Record::from_rdata(
            name("example.com."),
            300,
            RData::SOA(SOA::new(
                name("ns."),
                name("hostmaster.example.com."),
                1,
                1,
                1,
                1,
                30,
            )),
        );

        let mut ok = response(RecordType::MX);
        ok.add_answer(Record::from_rdata(
            name("example.com."),
            120,
            RData::MX(MX::new(10, name("MX.Example.com."))),
        ));
        ok.add_answer(Record::from_rdata(
            name("example.com."),
            60,
            RData::TXT(TXT::new(vec!["not asked".into()])),
        ));
        let a = both(ok, RecordType::MX);
        assert_eq!(a.status, Status::Ok);
        assert_eq!(a.ttl, 120);
        assert_eq!(
            a.records,
            [Rdata::Mx {
                preference: 10,
                exchange: "mx.example.com".into()
            }]
        );

        let mut nodata = response(RecordType::MX);
        nodata.metadata.authoritative = true;
        nodata.add_authority(soa.clone());
        let a = both(nodata, RecordType::MX);
        assert_eq!((a.status, a.ttl), (Status::NoData, 30));

        let mut nx = response(RecordType::MX);
        nx.metadata.response_code = ResponseCode::NXDomain;
        nx.add_authority(soa);
        assert_eq!(both(nx, RecordType::MX).status, Status::NxDomain);

        for (rcode, status) in [
            (ResponseCode::ServFail, Status::ServFail),
            (ResponseCode::Refused, Status::Refused),
            (ResponseCode::FormErr, Status::Error),
            (ResponseCode::NotImp, Status::Error),
        ] {
            let mut m = response(RecordType::MX);
            m.metadata.response_code = rcode;
            let a = both(m, RecordType::MX);
            assert_eq!(a.status, status, "{rcode}");
            assert!(a.error.is_some());
        }

        // A CNAME chain that ends without data of the asked type is nodata, not ok.
        let mut chain = response(RecordType::MX);
        chain.add_answer(Record::from_rdata(
            name("example.com."),
            60,
            RData::CNAME(CNAME(name("target.example.net."))),
        ));
        assert_eq!(both(chain, RecordType::MX).status, Status::NoData);

        // A referral from a non-recursive server is an error, never nodata.
        let mut referral = response(RecordType::MX);
        referral.metadata.recursion_available = false;
        referral.add_authority(Record::from_rdata(
            name("example.com."),
            60,
            RData::NS(NS(name("ns.example.com."))),
        ));
        let a = both(referral, RecordType::MX);
        assert_eq!(a.status, Status::Error);
        assert!(a.error.unwrap().contains("referral"));

        // Records following a CNAME chain count.
        let mut followed = response_named("www.example.com", RecordType::A);
        followed.add_answer(Record::from_rdata(
            name("www.example.com."),
            60,
            RData::CNAME(CNAME(name("host.example.com."))),
        ));
        followed.add_answer(Record::from_rdata(
            name("host.example.com."),
            60,
            RData::A(A::new(127, 0, 0, 1)),
        ));
        let a = both(followed, RecordType::A);
        assert_eq!(a.records, [Rdata::A(std::net::Ipv4Addr::LOCALHOST)]);
    }
}
