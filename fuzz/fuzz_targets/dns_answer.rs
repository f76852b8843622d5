//! The engine's answer decoder (`dns::answer::decode`) on any datagram: no panic, and wherever
//! hickory's `Message` decodes the bytes, the same verdict as the path it replaced (a TC bit is
//! TCP; otherwise `answer::interpret` of hickory's message, record for record).
//!
//! Input: one byte choosing the asked type, then the datagram.
#![no_main]

use hickory_proto::op::Message;
use libfuzzer_sys::fuzz_target;
use mxray::dns::RecordType;
use mxray::dns::answer::{Decoded, decode, interpret};

const ASKED: [RecordType; 10] = [
    RecordType::A,
    RecordType::AAAA,
    RecordType::MX,
    RecordType::TXT,
    RecordType::CNAME,
    RecordType::PTR,
    RecordType::SOA,
    RecordType::NS,
    RecordType::TLSA,
    RecordType::CAA,
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, msg)) = data.split_first() else {
        return;
    };
    let rtype = ASKED[pick as usize % ASKED.len()];
    let got = decode(msg, rtype);
    let Ok(reference) = Message::from_vec(msg) else {
        // hickory refuses it: decode may refuse it too, or read what mxray uses of it.
        return;
    };
    match got {
        Ok(Decoded::Truncated) => assert!(reference.metadata.truncation, "TC without the bit"),
        Ok(Decoded::Answer(a)) => {
            assert!(!reference.metadata.truncation, "the TC bit not seen");
            assert_eq!(a, interpret(reference, rtype));
        }
        Err(e) => panic!("hickory decodes it, decode refused it: {e}"),
    }
});
