//! Reading the parts: every `domains/part-*.parquet` and `hosts/part-*.parquet` under each input
//! directory, only the columns the report needs, aggregated part by part on rayon's pool.
//!
//! Order of work, so memory stays bounded:
//! 1. hosts, first pass (address and readiness cells only, in parallel): the compact host map,
//!    built in part order so the first row of an address is the one that counts (shards of one
//!    scan each probe the MX addresses their own domains lead to, so an address shared by
//!    domains of two shards has a row in each);
//! 2. hosts, second pass (in parallel): the host aggregates of the rows kept;
//! 3. domains in chunks of parts (each chunk in parallel, written in part order): the domain
//!    aggregates and the readiness rows, joined with the host map.
//!
//! A part that cannot be read (no footer yet: the scan is writing it; or damaged) is skipped and
//! listed in [`Reading::skipped`], never an error.

use std::collections::BTreeSet;
use std::fs::File;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::{
    Array, BooleanArray, ListArray, PrimitiveArray, RecordBatch, StringArray, StructArray,
};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rayon::prelude::*;
use serde::Serialize;

use super::ReportError;
use super::aggregate::{Aggregates, DomainAgg, HostAgg, Merge, ReadinessAgg, ipv4_bucket};
use super::columns::{Col, DomainCols, Field, HostCols, Kind, Reads};
use super::readiness::{
    DomainFacts, HostCells, HostFacts, HostMap, KeyFacts, ReadinessRow, ReadinessWriter, judge,
};
use crate::checks::dmarc::DmarcStatus;
use crate::checks::problem::Problem;
use crate::checks::spf::SpfStatus;
use crate::output::HostStatus;
use crate::smtp::conn::SmtpStatus;

/// What was read, apart from the aggregates: it differs between a sharded and an unsharded scan
/// of the same input (parts, duplicate addresses), the aggregates do not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reading {
    pub inputs: Vec<Input>,
    pub domain_parts: u64,
    pub host_parts: u64,
    /// Parts left out, with why.
    pub skipped: Vec<Skipped>,
    pub domain_rows: u64,
    /// Hosts rows read, duplicates included.
    pub host_rows: u64,
    /// Hosts rows of an address already read from another part (another shard's copy).
    pub host_duplicates: u64,
    /// Hosts rows whose `ip` is not an address (left out).
    pub host_bad_ip: u64,
    /// DNSBL zones the scans queried (run.json), so a zone that listed nothing still shows.
    pub dnsbl_zones: Vec<String>,
}

/// One input directory and what its run.json says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Input {
    pub dir: PathBuf,
    /// `running`, `done`, `interrupted`; null without a readable run.json.
    pub state: Option<String>,
    pub shard: Option<String>,
    pub started_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// The finished parts of a table: `part-*.parquet`, sorted (a part being written has a hidden
/// temporary name and is not listed).
fn parts(dir: &Path, table: &str) -> Result<Vec<PathBuf>, ReportError> {
    let d = dir.join(table);
    let rd = match std::fs::read_dir(&d) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ReportError::io(&d, e)),
    };
    let mut v = Vec::new();
    for e in rd {
        let e = e.map_err(|e| ReportError::io(&d, e))?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("part-") && name.ends_with(".parquet") {
            v.push(e.path());
        }
    }
    v.sort();
    Ok(v)
}

fn input_info(dir: &Path) -> (Input, Vec<String>) {
    let manifest: Option<serde_json::Value> = std::fs::read(dir.join("run.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let text = |k: &str| {
        manifest
            .as_ref()
            .and_then(|m| m.get(k))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let zones = manifest
        .as_ref()
        .and_then(|m| m.get("dnsbl_zones"))
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|z| z.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    (
        Input {
            dir: dir.to_path_buf(),
            state: text("state"),
            shard: text("shard"),
            started_at: text("started_at"),
        },
        zones,
    )
}

/// Opens a part with only `columns` (those it has: a column a scan did not write is read as
/// null) and gives its batches to `f`.
fn read_part(
    path: &Path,
    columns: &[&str],
    mut f: impl FnMut(&Batch) -> Result<(), String>,
) -> Result<(), String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| e.to_string())?;
    let roots: Vec<usize> = builder
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| columns.contains(&f.name().as_str()))
        .map(|(i, _)| i)
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(8192)
        .build()
        .map_err(|e| e.to_string())?;
    for b in reader {
        let b = b.map_err(|e| e.to_string())?;
        f(&Batch(&b))?;
    }
    Ok(())
}

/// Typed access to a batch's columns through the handles of [`Reads`]; a column absent from the
/// part (a scan of an older version) or of another type there is null.
pub(crate) struct Batch<'a>(pub(crate) &'a RecordBatch);

impl<'a> Batch<'a> {
    fn rows(&self) -> usize {
        self.0.num_rows()
    }

    fn get<K: Kind>(&self, c: Col<K>) -> Option<&'a K::Array> {
        K::cast(self.0.column_by_name(c.name)?)
    }

    /// The values of one field of a `list<struct>` column's items, indexed like the items.
    fn field<K: Kind>(&self, f: Field<K>) -> Option<&'a K::Array> {
        let items: &StructArray = self.get(f.list)?.values().as_struct_opt()?;
        K::cast(items.column_by_name(f.name)?)
    }
}

fn s(a: Option<&StringArray>, i: usize) -> Option<&str> {
    a.filter(|a| a.is_valid(i)).map(|a| a.value(i))
}

fn b(a: Option<&BooleanArray>, i: usize) -> Option<bool> {
    a.filter(|a| a.is_valid(i)).map(|a| a.value(i))
}

fn p<T: arrow_array::ArrowPrimitiveType>(
    a: Option<&PrimitiveArray<T>>,
    i: usize,
) -> Option<T::Native> {
    a.filter(|a| a.is_valid(i)).map(|a| a.value(i))
}

/// Row `i`'s item range in a list column; null when the list is null.
fn range(a: Option<&ListArray>, i: usize) -> Option<std::ops::Range<usize>> {
    let a = a.filter(|a| a.is_valid(i))?;
    let o = a.value_offsets();
    Some(o[i] as usize..o[i + 1] as usize)
}

/// Row `i`'s strings of a list<utf8> column; null when the list is null.
fn strs(a: Option<&ListArray>, i: usize) -> Option<Vec<&str>> {
    let r = range(a, i)?;
    let vals = a?.values().as_string_opt::<i32>()?;
    Some(
        r.filter(|j| vals.is_valid(*j))
            .map(|j| vals.value(j))
            .collect(),
    )
}

fn non_empty(a: Option<&ListArray>, i: usize) -> bool {
    range(a, i).is_some_and(|r| !r.is_empty())
}

/// The code a problem item starts with (`lookup-limit: 11 lookups` -> `lookup-limit`). An item
/// without a known code (the output of another version) counts under its first word, so that a
/// code this build does not know is still tallied, not lost.
pub fn code(problem: &str) -> &str {
    Problem::split(problem).map_or_else(|| first_word(problem), |(c, _)| c.as_str())
}

/// A DNSBL error's zone (`zen.example: 127.255.255.254 ...` -> `zen.example`): those items name
/// the zone first, not a problem code.
fn zone(error: &str) -> &str {
    first_word(error)
}

fn first_word(item: &str) -> &str {
    item.split_once(':').map_or(item, |(c, _)| c).trim()
}

/// Each distinct item of a list, once.
fn distinct(list: Option<Vec<&str>>) -> Vec<&str> {
    let mut v = list.unwrap_or_default();
    v.sort_unstable();
    v.dedup();
    v
}

/// Each distinct code of a problem list, once.
fn codes(list: Option<Vec<&str>>) -> Vec<&str> {
    keys(list, code)
}

/// Each distinct key of a list, once.
fn keys<'a>(list: Option<Vec<&'a str>>, key: fn(&'a str) -> &'a str) -> Vec<&'a str> {
    let mut v: Vec<&str> = list.unwrap_or_default().into_iter().map(key).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Reads everything: the aggregates, what was read, and the readiness table's path.
pub fn read_all(
    inputs: &[PathBuf],
    out: &Path,
) -> Result<(Aggregates, Reading, PathBuf), ReportError> {
    let mut reading = Reading::default();
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut zones = BTreeSet::new();
    for dir in inputs {
        if !dir.is_dir() {
            return Err(ReportError::NotADirectory(dir.clone()));
        }
        // The same directory named twice would count its rows twice.
        let canon = dir.canonicalize().map_err(|e| ReportError::io(dir, e))?;
        if dirs.contains(&canon) {
            continue;
        }
        dirs.push(canon);
        let (info, z) = input_info(dir);
        zones.extend(z);
        reading.inputs.push(info);
    }
    reading.dnsbl_zones = zones.into_iter().collect();
    let mut domain_parts = Vec::new();
    let mut host_parts = Vec::new();
    for dir in &dirs {
        domain_parts.extend(parts(dir, "domains")?);
        host_parts.extend(parts(dir, "hosts")?);
    }
    if domain_parts.is_empty() && host_parts.is_empty() {
        return Err(ReportError::NoParts(inputs[0].clone()));
    }
    let reads = Reads::of_writer()?;
    let mut agg = Aggregates::default();
    let hosts = read_hosts(&reads, &host_parts, &mut agg.hosts, &mut reading);
    let readiness = read_domains(&reads, &domain_parts, &hosts, &mut agg, &mut reading, out)?;
    Ok((agg, reading, readiness))
}

type HostFactsOfPart = Result<(Vec<Option<(IpAddr, HostFacts)>>, u64), String>;

fn read_hosts(
    reads: &Reads,
    parts: &[PathBuf],
    agg: &mut HostAgg,
    reading: &mut Reading,
) -> HostMap {
    let (fc, hc) = (&reads.host_facts, &reads.hosts);
    let first: Vec<HostFactsOfPart> = parts
        .par_iter()
        .map(|path| {
            let mut rows = Vec::new();
            let mut bad = 0;
            read_part(path, &fc.projection, |c| {
                let k = &fc.cols;
                let (ip, hs) = (c.get(k.ip), c.get(k.host_status));
                let (fcrdns, ss) = (c.get(k.fcrdns), c.get(k.smtp_status));
                let (st, refused) = (c.get(k.starttls), c.get(k.starttls_error));
                let tv = c.get(k.tls_version);
                for i in 0..c.rows() {
                    let Some(addr) = s(ip, i).and_then(|t| t.parse::<IpAddr>().ok()) else {
                        bad += 1;
                        rows.push(None);
                        continue;
                    };
                    let f = HostFacts::from_cells(&HostCells {
                        host_status: s(hs, i),
                        fcrdns: b(fcrdns, i),
                        smtp_status: s(ss, i),
                        starttls: b(st, i),
                        starttls_error: s(refused, i),
                        tls_version: s(tv, i),
                    });
                    rows.push(Some((addr, f)));
                }
                Ok(())
            })
            .map(|()| (rows, bad))
        })
        .collect();
    // In part order: which rows are the first of their address.
    let mut map = HostMap::default();
    let mut keep: Vec<(&PathBuf, Vec<bool>)> = Vec::new();
    for (path, r) in parts.iter().zip(first) {
        match r {
            Ok((rows, bad)) => {
                reading.host_parts += 1;
                reading.host_rows += rows.len() as u64;
                reading.host_bad_ip += bad;
                let mask = rows
                    .into_iter()
                    .map(|r| match r {
                        Some((ip, f)) => {
                            let new = map.insert_first(ip, f);
                            reading.host_duplicates += u64::from(!new);
                            new
                        }
                        None => false,
                    })
                    .collect();
                keep.push((path, mask));
            }
            Err(reason) => reading.skipped.push(Skipped {
                path: path.clone(),
                reason,
            }),
        }
    }
    let partials: Vec<Result<HostAgg, Skipped>> = keep
        .par_iter()
        .map(|(path, mask)| {
            let mut a = HostAgg::default();
            let mut at = 0;
            read_part(path, &hc.projection, |c| {
                let n = c.rows();
                let m = mask
                    .get(at..at + n)
                    .ok_or("the part changed between two reads")?;
                host_batch(&hc.cols, c, m, &mut a);
                at += n;
                Ok(())
            })
            .map(|()| a)
            .map_err(|reason| Skipped {
                path: (*path).clone(),
                reason,
            })
        })
        .collect();
    for p in partials {
        match p {
            Ok(a) => agg.merge(a),
            Err(s) => reading.skipped.push(s),
        }
    }
    map
}

/// Adds the kept rows of one hosts batch.
pub(crate) fn host_batch(k: &HostCols, c: &Batch, keep: &[bool], a: &mut HostAgg) {
    let host_status = c.get(k.host_status);
    let ptr_status = c.get(k.ptr_status);
    let fcrdns = c.get(k.fcrdns);
    let listed = c.get(k.dnsbl_listed);
    let errors = c.get(k.dnsbl_errors);
    let asn = c.get(k.asn);
    let asn_name = c.get(k.asn_name);
    let smtp_status = c.get(k.smtp_status);
    let outcome = c.get(k.smtp_outcome);
    let starttls = c.get(k.starttls);
    let tls_version = c.get(k.tls_version);
    let cert = c.get(k.tls_cert_valid);
    let relay = c.get(k.open_relay);
    let direct = c.get(k.open_relay_direct);
    let any_rcpt = c.get(k.accepts_any_recipient);
    let rpki = c.get(k.rpki_status);
    for (i, _) in keep.iter().enumerate().filter(|(_, k)| **k) {
        a.rows += 1;
        let hs = s(host_status, i);
        a.host_status.add_opt(hs);
        if hs == Some(HostStatus::Ok.as_str()) {
            a.ptr_status.add_opt(s(ptr_status, i));
            a.fcrdns.add_bool(b(fcrdns, i));
            let zones = distinct(strs(listed, i));
            for z in &zones {
                a.dnsbl_listed.add(z);
            }
            a.dnsbl_listed_any += u64::from(!zones.is_empty());
            for z in keys(strs(errors, i), zone) {
                a.dnsbl_errors.add(z);
            }
            let validity = s(rpki, i);
            a.rpki_status.add_opt(validity);
            match p(asn, i) {
                Some(n) => {
                    let e = a.asn.entry(n).or_default();
                    e.hosts += 1;
                    if let Some(v) = validity {
                        e.rpki.add(v);
                    }
                    e.listed_any += u64::from(!zones.is_empty());
                    for z in &zones {
                        e.listed.add(z);
                    }
                    if let Some(name) = s(asn_name, i) {
                        let smaller = e.name.as_deref().is_none_or(|old| name < old);
                        if smaller {
                            e.name = Some(name.to_owned());
                        }
                    }
                }
                None => a.asn_unknown += 1,
            }
        }
        let ss = s(smtp_status, i);
        a.smtp_status.add_opt(ss);
        if ss.is_some_and(|s| s != SmtpStatus::Skipped.as_str()) {
            a.smtp_outcome.add_opt(s(outcome, i));
        }
        // A dialogue took place (a refused or timed-out connection says nothing of STARTTLS).
        let dialogue = [SmtpStatus::Ok, SmtpStatus::TlsError].map(SmtpStatus::as_str);
        if ss.is_some_and(|s| dialogue.contains(&s)) {
            let st = b(starttls, i);
            a.starttls.add_bool(st);
            if st == Some(true) {
                a.tls_version.add_opt(s(tls_version, i));
            }
            if s(tls_version, i).is_some() {
                a.tls_cert_valid.add_bool(b(cert, i));
            }
            a.open_relay.add_bool(b(relay, i));
            a.open_relay_direct.add_bool(b(direct, i));
            a.accepts_any_recipient.add_bool(b(any_rcpt, i));
        }
    }
}

type DomainPart = Result<(DomainAgg, ReadinessAgg, Vec<ReadinessRow>), Skipped>;

fn read_domains(
    reads: &Reads,
    parts: &[PathBuf],
    hosts: &HostMap,
    agg: &mut Aggregates,
    reading: &mut Reading,
    out: &Path,
) -> Result<PathBuf, ReportError> {
    let mut writer = ReadinessWriter::create(out)?;
    // Chunks of a few parts per thread: parallel within a chunk, written in part order, so the
    // table's row order does not depend on scheduling and only one chunk is held at a time.
    let chunk = rayon::current_num_threads().max(1) * 2;
    for group in parts.chunks(chunk) {
        let done: Vec<DomainPart> = group
            .par_iter()
            .map(|path| {
                let mut d = DomainAgg::default();
                let mut r = ReadinessAgg::default();
                let mut rows = Vec::new();
                read_part(path, &reads.domains.projection, |c| {
                    domain_batch(&reads.domains.cols, c, hosts, &mut d, &mut r, &mut rows);
                    Ok(())
                })
                .map(|()| (d, r, rows))
                .map_err(|reason| Skipped {
                    path: path.clone(),
                    reason,
                })
            })
            .collect();
        for part in done {
            match part {
                Ok((d, r, rows)) => {
                    reading.domain_parts += 1;
                    reading.domain_rows += d.rows;
                    agg.domains.merge(d);
                    agg.readiness.merge(r);
                    writer.write(&rows)?;
                }
                Err(s) => reading.skipped.push(s),
            }
        }
    }
    writer.finish()
}

/// Adds one domains batch to the aggregates and judges its domains' readiness.
pub(crate) fn domain_batch(
    k: &DomainCols,
    c: &Batch,
    hosts: &HostMap,
    a: &mut DomainAgg,
    r: &mut ReadinessAgg,
    out: &mut Vec<ReadinessRow>,
) {
    let domain = c.get(k.domain);
    let domain_status = c.get(k.domain_status);
    let mx_status = c.get(k.mx_status);
    let mx = c.get(k.mx);
    let mx_exchange = c.field(k.mx_exchange);
    let mx_null = c.get(k.mx_null);
    let mx_ips = c.get(k.mx_ips);
    let mx_ips_status = c.get(k.mx_ips_status);
    let mx_errors = c.get(k.mx_errors);
    let spf_status = c.get(k.spf_status);
    let spf_all = c.get(k.spf_all);
    let spf_lookups = c.get(k.spf_lookups);
    let spf_void = c.get(k.spf_void_lookups);
    let spf_v4 = c.get(k.spf_ipv4_authorized);
    let spf_errors = c.get(k.spf_errors);
    let spf_flags = c.get(k.spf_flags);
    let spf_providers = c.get(k.spf_providers);
    let dmarc_status = c.get(k.dmarc_status);
    let dmarc_source = c.get(k.dmarc_source);
    let dmarc_differ = c.get(k.dmarc_methods_differ);
    let dmarc_p = c.get(k.dmarc_p);
    let dmarc_eff = c.get(k.dmarc_effective_p);
    let dmarc_pct = c.get(k.dmarc_pct);
    let dmarc_rua = c.get(k.dmarc_rua);
    let dmarc_errors = c.get(k.dmarc_errors);
    let rua_ok = c.get(k.dmarc_rua_authorized);
    let rua_no = c.get(k.dmarc_rua_unauthorized);
    let dkim_status = c.get(k.dkim_status);
    let dkim_selectors = c.get(k.dkim_selectors);
    let keys = c.get(k.dkim_keys);
    let key_type = c.field(k.key_type);
    let key_bits = c.field(k.key_bits);
    let key_revoked = c.field(k.key_revoked);
    let key_usable = c.field(k.key_usable);
    let dkim_errors = c.get(k.dkim_errors);
    let sts = c.get(k.mta_sts_status);
    let sts_policy = c.get(k.mta_sts_policy_status);
    let sts_mode = c.get(k.mta_sts_mode);
    let tls_rpt = c.get(k.tls_rpt_status);
    let bimi = c.get(k.bimi_status);
    let dane_status = c.get(k.dane_status);
    let dane_tlsa = c.get(k.dane_tlsa);
    let dane_all = c.get(k.dane_all_mx);
    let mx_ipv6 = c.get(k.mx_ipv6);
    let dangling = c.get(k.dangling);
    let dangling_status = c.get(k.dangling_status);

    for i in 0..c.rows() {
        a.rows += 1;
        a.domain_status.add_opt(s(domain_status, i));
        a.mx_status.add_opt(s(mx_status, i));
        a.mx_null.add_bool(b(mx_null, i));
        a.mx_ips_status.add_opt(s(mx_ips_status, i));
        if let (Some(rg), Some(ex)) = (range(mx, i), mx_exchange) {
            let mut ops: Vec<&str> = rg
                .filter(|j| ex.is_valid(*j) && !ex.value(*j).is_empty())
                .map(|j| {
                    let name = ex.value(j);
                    psl::domain_str(name).unwrap_or(name)
                })
                .collect();
            a.with_mx += u64::from(!ops.is_empty());
            ops.sort_unstable();
            ops.dedup();
            for o in ops {
                a.mx_operators.add(o);
            }
        }
        for code in codes(strs(mx_errors, i)) {
            a.mx_errors.add(code);
        }

        let spf = s(spf_status, i);
        a.spf_status.add_opt(spf);
        for code in codes(strs(spf_errors, i)) {
            a.spf_errors.add(code);
            if spf == Some(SpfStatus::PermError.as_str()) {
                a.spf_permerror_codes.add(code);
            }
        }
        let lookups = p(spf_lookups, i);
        if let Some(n) = lookups {
            *a.spf_lookups.entry(n).or_default() += 1;
        }
        if let Some(n) = p(spf_void, i) {
            *a.spf_void_lookups.entry(n).or_default() += 1;
        }
        if spf == Some(SpfStatus::Valid.as_str()) {
            a.spf_all.add_opt(s(spf_all, i));
            match p(spf_v4, i) {
                Some(n) => *a.spf_ipv4_buckets.entry(ipv4_bucket(n)).or_default() += 1,
                None => a.spf_ipv4_unknown += 1,
            }
        }
        for x in distinct(strs(spf_providers, i)) {
            a.spf_providers.add(x);
        }
        for x in distinct(strs(spf_flags, i)) {
            a.spf_flags.add(x);
        }

        let dmarc = s(dmarc_status, i);
        a.dmarc_status.add_opt(dmarc);
        a.dmarc_p.add_opt(s(dmarc_p, i));
        let eff = s(dmarc_eff, i);
        a.dmarc_effective_p.add_opt(eff);
        if let Some(src) = s(dmarc_source, i) {
            a.dmarc_source.add(src);
        }
        a.dmarc_methods_differ.add_bool(b(dmarc_differ, i));
        if dmarc == Some(DmarcStatus::Valid.as_str()) {
            match p(dmarc_pct, i) {
                Some(n) => a.dmarc_pct.add(&n.to_string()),
                None => a.dmarc_pct.add(super::aggregate::NULL),
            }
            a.dmarc_rua += u64::from(non_empty(dmarc_rua, i));
        }
        let (ok, no) = (non_empty(rua_ok, i), non_empty(rua_no, i));
        a.dmarc_external += u64::from(ok || no);
        a.dmarc_external_unauthorized += u64::from(no);
        for code in codes(strs(dmarc_errors, i)) {
            a.dmarc_errors.add(code);
        }

        let dkim = s(dkim_status, i);
        a.dkim_status.add_opt(dkim);
        let selectors = strs(dkim_selectors, i).unwrap_or_default();
        a.dkim_with_selector += u64::from(!selectors.is_empty());
        for sel in &selectors {
            a.dkim_selectors.add(sel);
        }
        let mut key_facts = Vec::new();
        let mut weak = false;
        for j in range(keys, i).unwrap_or_default() {
            let t = s(key_type, j);
            let bits = p(key_bits, j);
            let revoked = b(key_revoked, j).unwrap_or(false);
            let label = format!(
                "{} {}",
                t.unwrap_or(super::aggregate::NULL),
                bits.map_or_else(|| "unknown".to_owned(), |b| b.to_string())
            );
            a.dkim_keys.add(&label);
            let key = KeyFacts {
                key_type: t,
                bits,
                usable: b(key_usable, j).unwrap_or(false),
            };
            let is_weak = key.weak() && !revoked;
            a.dkim_weak_keys += u64::from(is_weak);
            weak |= is_weak;
            key_facts.push(key);
        }
        a.dkim_weak_domains += u64::from(weak);
        for code in codes(strs(dkim_errors, i)) {
            a.dkim_errors.add(code);
        }

        a.mta_sts_status.add_opt(s(sts, i));
        if let Some(x) = s(sts_policy, i) {
            a.mta_sts_policy_status.add(x);
        }
        if let Some(x) = s(sts_mode, i) {
            a.mta_sts_mode.add(x);
        }
        a.tls_rpt_status.add_opt(s(tls_rpt, i));
        a.bimi_status.add_opt(s(bimi, i));
        let ds = s(dane_status, i);
        a.dane_status.add_opt(ds);
        a.dane_tlsa += u64::from(non_empty(dane_tlsa, i));
        if ds.is_some() {
            a.dane_all_mx.add_bool(b(dane_all, i));
        }
        a.mx_ipv6.add_bool(b(mx_ipv6, i));
        let dst = s(dangling_status, i);
        a.dangling_status.add_opt(dst);
        if dst.is_some() {
            let kinds: BTreeSet<&str> = strs(dangling, i)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|n| n.split_once(':').map(|(k, _)| k))
                .collect();
            a.dangling_domains += u64::from(!kinds.is_empty());
            for k in kinds {
                a.dangling_kinds.add(k);
            }
        }

        let facts = DomainFacts {
            spf_status: spf,
            spf_lookups: lookups,
            dkim_status: dkim,
            dkim_keys: key_facts,
            dmarc_status: dmarc,
            dmarc_effective_p: eff,
            mx_ips: strs(mx_ips, i),
            mx_ips_status: s(mx_ips_status, i),
            mx_exchanges: range(mx, i).map(|r| r.len()),
        };
        let v = judge(&facts, hosts);
        r.ready.add_bool(v.ready);
        for f in &v.failed {
            r.failed.add(f);
        }
        for u in &v.unknown {
            r.unknown.add(u);
        }
        out.push(ReadinessRow::new(s(domain, i).unwrap_or_default(), &v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::DkimKeyRow;
    use crate::output::columns::ColType::*;
    use crate::output::columns::Value::*;
    use crate::output::columns::{Column, Row, Value, to_batch};
    use parquet::arrow::ArrowWriter;

    /// The domains columns the tests fill; the others are absent from the parts, as in a scan
    /// of an older version, and read as null.
    #[derive(Debug, Clone)]
    struct D {
        domain: String,
        mx: Option<Vec<(u16, String)>>,
        mx_null: Option<bool>,
        mx_ips: Option<Vec<String>>,
        mx_ips_status: Option<&'static str>,
        spf_status: &'static str,
        spf_lookups: Option<u32>,
        spf_ipv4: Option<u64>,
        spf_all: Option<&'static str>,
        spf_errors: Vec<String>,
        dmarc_status: &'static str,
        dmarc_p: Option<&'static str>,
        dmarc_effective_p: Option<&'static str>,
        dmarc_methods_differ: Option<bool>,
        dkim_status: &'static str,
        dkim_selectors: Option<Vec<String>>,
        dkim_keys: Option<Vec<DkimKeyRow>>,
    }

    static D_COLUMNS: &[Column<D>] = &[
        Column::new("domain", Utf8, |r| Str(Some(&r.domain))),
        Column::new(
            "mx",
            ListStruct(<(u16, String) as crate::output::columns::StructItem>::FIELDS),
            |r| Value::structs(r.mx.as_ref()),
        ),
        Column::new("mx_null", Boolean, |r| Bool(r.mx_null)),
        Column::new("mx_ips", ListUtf8, |r| StrList(r.mx_ips.as_deref())),
        Column::new("mx_ips_status", Utf8, |r| Str(r.mx_ips_status)),
        Column::new("spf_status", Utf8, |r| Str(Some(r.spf_status))),
        Column::new("spf_lookups", UInt32, |r| U32(r.spf_lookups)),
        Column::new("spf_ipv4_authorized", UInt64, |r| U64(r.spf_ipv4)),
        Column::new("spf_all", Utf8, |r| Str(r.spf_all)),
        Column::new("spf_errors", ListUtf8, |r| StrList(Some(&r.spf_errors))),
        Column::new("dmarc_status", Utf8, |r| Str(Some(r.dmarc_status))),
        Column::new("dmarc_p", Utf8, |r| Str(r.dmarc_p)),
        Column::new("dmarc_effective_p", Utf8, |r| Str(r.dmarc_effective_p)),
        Column::new("dmarc_methods_differ", Boolean, |r| {
            Bool(r.dmarc_methods_differ)
        }),
        Column::new("dkim_status", Utf8, |r| Str(Some(r.dkim_status))),
        Column::new("dkim_selectors", ListUtf8, |r| {
            StrList(r.dkim_selectors.as_deref())
        }),
        Column::new(
            "dkim_keys",
            ListStruct(<DkimKeyRow as crate::output::columns::StructItem>::FIELDS),
            |r| Value::structs(r.dkim_keys.as_ref()),
        ),
    ];

    impl Row for D {
        fn columns() -> &'static [Column<Self>] {
            D_COLUMNS
        }
    }

    #[derive(Debug, Clone)]
    struct H {
        ip: String,
        fcrdns: Option<bool>,
        dnsbl_listed: Vec<String>,
        dnsbl_errors: Vec<String>,
        asn: Option<u32>,
        smtp_status: Option<&'static str>,
        starttls: Option<bool>,
        tls_version: Option<&'static str>,
        rpki_status: Option<&'static str>,
    }

    static H_COLUMNS: &[Column<H>] = &[
        Column::new("ip", Utf8, |r| Str(Some(&r.ip))),
        Column::new("host_status", Utf8, |_| Str(Some("ok"))),
        Column::new("ptr_status", Utf8, |_| Str(Some("ok"))),
        Column::new("fcrdns", Boolean, |r| Bool(r.fcrdns)),
        Column::new("dnsbl_listed", ListUtf8, |r| StrList(Some(&r.dnsbl_listed))),
        Column::new("dnsbl_errors", ListUtf8, |r| StrList(Some(&r.dnsbl_errors))),
        Column::new("asn", UInt32, |r| U32(r.asn)),
        Column::new("smtp_status", Utf8, |r| Str(r.smtp_status)),
        Column::new("starttls", Boolean, |r| Bool(r.starttls)),
        Column::new("tls_version", Utf8, |r| Str(r.tls_version)),
        Column::new("rpki_status", Utf8, |r| Str(r.rpki_status)),
    ];

    impl Row for H {
        fn columns() -> &'static [Column<Self>] {
            H_COLUMNS
        }
    }

    /// The lab's RSA key of `bits` as the DKIM check reads it: what a scan writes.
    fn key(bits: u32) -> DkimKeyRow {
        use crate::lab::world::{DKIM_RSA_512, DKIM_RSA_2048};
        let p = if bits == 512 {
            DKIM_RSA_512
        } else {
            DKIM_RSA_2048
        };
        let k = crate::checks::dkim::parse_key_record(&format!("v=DKIM1; p={}", p.trim()));
        assert_eq!(k.bits, Some(bits));
        DkimKeyRow {
            selector: "s".into(),
            key_type: k.key_type.as_str().into(),
            bits: k.bits,
            testing: k.testing,
            revoked: k.revoked,
            usable: k.usable(),
            errors: k.errors,
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// Ten domains of every kind the figures tell apart.
    fn domains() -> Vec<D> {
        let base = |i: usize| D {
            domain: format!("d{i}.example"),
            mx: Some(vec![(10, format!("mx.d{i}.example"))]),
            mx_null: Some(false),
            mx_ips: Some(strings(&["192.0.2.1"])),
            mx_ips_status: Some("ok"),
            spf_status: "valid",
            spf_lookups: Some(2),
            spf_ipv4: Some(256),
            spf_all: Some("fail"),
            spf_errors: vec![],
            dmarc_status: "valid",
            dmarc_p: Some("reject"),
            dmarc_effective_p: Some("reject"),
            dmarc_methods_differ: Some(false),
            dkim_status: "valid",
            dkim_selectors: Some(strings(&["s"])),
            dkim_keys: Some(vec![key(2048)]),
        };
        let mut v: Vec<D> = (0..10).map(base).collect();
        v[1].spf_status = "permerror";
        v[1].spf_lookups = Some(12);
        v[1].spf_errors = strings(&["lookup-limit: 12 lookups"]);
        v[2].spf_status = "none";
        v[2].spf_lookups = None;
        v[2].spf_ipv4 = None;
        v[3].spf_all = Some("pass");
        v[3].spf_ipv4 = Some(1 << 32);
        v[4].dmarc_status = "none";
        v[4].dmarc_p = None;
        v[4].dmarc_effective_p = None;
        // A weak key is unusable (RFC 8301 3.2), so the DKIM check says invalid.
        v[5].dkim_keys = Some(vec![key(512)]);
        v[5].dkim_status = "invalid";
        v[6].dkim_status = "none";
        v[6].dkim_selectors = Some(vec![]);
        v[6].dkim_keys = Some(vec![]);
        v[7].mx = Some(vec![(0, String::new())]);
        v[7].mx_null = Some(true);
        v[7].dmarc_methods_differ = Some(true);
        v[7].mx_ips = Some(vec![]);
        v[7].mx_ips_status = None;
        // Two domains of one operator (the registrable domain of the exchanges).
        v[8].mx = Some(vec![(10, "a.mail.provider.example".into())]);
        v[9].mx = Some(vec![
            (5, "b.mail.provider.example".into()),
            (10, "mx.d9.example".into()),
        ]);
        v[8].mx_ips = Some(strings(&["192.0.2.2"]));
        v[9].mx_ips = Some(strings(&["192.0.2.3"]));
        v
    }

    fn hosts() -> Vec<H> {
        let h = |ip: &str, fcrdns, listed: &[&str], asn| H {
            ip: ip.into(),
            fcrdns,
            dnsbl_listed: strings(listed),
            dnsbl_errors: vec![],
            asn,
            smtp_status: Some("ok"),
            starttls: Some(true),
            tls_version: Some("TLSv1.3"),
            rpki_status: asn.map(|_| "valid"),
        };
        let mut v = vec![
            h("192.0.2.1", Some(true), &[], Some(64500)),
            h("192.0.2.2", Some(false), &["zen.example"], Some(64500)),
            h(
                "192.0.2.3",
                Some(true),
                &["zen.example", "bl.example"],
                None,
            ),
        ];
        v[2].dnsbl_errors = strings(&["other.example: 127.255.255.254 (refused)"]);
        v[1].rpki_status = Some("invalid");
        v
    }

    fn write<R: Row>(dir: &Path, table: &str, n: usize, rows: &[R]) {
        let d = dir.join(table);
        std::fs::create_dir_all(&d).unwrap();
        let f = File::create(d.join(format!("part-{n:05}.parquet"))).unwrap();
        let batch = to_batch(rows).unwrap();
        let mut w = ArrowWriter::try_new(f, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }

    /// Per output directory, per part: the indexes of its domains and of its hosts.
    type Part = (Vec<usize>, Vec<usize>);
    type Layout = [Vec<Part>];

    /// Writes `layout`: per output directory, per part, the indexes of its domains and hosts.
    fn scan_dirs(root: &Path, layout: &Layout) -> Vec<PathBuf> {
        let (d, h) = (domains(), hosts());
        layout
            .iter()
            .enumerate()
            .map(|(k, parts)| {
                let dir = root.join(format!("shard{k}"));
                std::fs::create_dir_all(&dir).unwrap();
                for (n, (di, hi)) in parts.iter().enumerate() {
                    let dr: Vec<D> = di.iter().map(|i| d[*i].clone()).collect();
                    let hr: Vec<H> = hi.iter().map(|i| h[*i].clone()).collect();
                    if !dr.is_empty() {
                        write(&dir, "domains", n, &dr);
                    }
                    if !hr.is_empty() {
                        write(&dir, "hosts", n, &hr);
                    }
                }
                dir
            })
            .collect()
    }

    fn aggregate(root: &Path, layout: &Layout) -> (Aggregates, Reading) {
        let dirs = scan_dirs(root, layout);
        let out = root.join("report");
        let (a, r, _) = read_all(&dirs, &out).unwrap();
        (a, r)
    }

    #[test]
    fn figures_of_small_parts() {
        let t = tempfile::tempdir().unwrap();
        let (a, r) = aggregate(t.path(), &[vec![((0..10).collect(), vec![0, 1, 2])]]);
        let d = &a.domains;
        assert_eq!((r.domain_rows, r.host_rows, r.skipped.len()), (10, 3, 0));
        assert_eq!(d.rows, 10);
        assert_eq!(d.spf_status.get("valid"), 8);
        assert_eq!(d.spf_permerror_codes.get("lookup-limit"), 1);
        assert_eq!(d.spf_lookups.get(&12), Some(&1));
        assert_eq!(
            d.spf_lookups.values().sum::<u64>(),
            9,
            "null lookups are not counted"
        );
        assert_eq!(d.spf_all.get("pass"), 1);
        assert_eq!(d.spf_ipv4_buckets.get(&33), Some(&1));
        assert_eq!(d.spf_ipv4_buckets.get(&9), Some(&7));
        assert_eq!(d.dmarc_p.get("reject"), 9);
        assert_eq!(d.dmarc_p.get(NULL_KEY), 1);
        assert_eq!(d.dkim_with_selector, 9);
        assert_eq!((d.dkim_weak_keys, d.dkim_weak_domains), (1, 1));
        assert_eq!(d.dkim_keys.get("rsa 2048"), 8);
        assert_eq!(d.mx_null.get("true"), 1);
        assert_eq!(
            (
                d.dmarc_methods_differ.get("true"),
                d.dmarc_methods_differ.known()
            ),
            (1, 10)
        );
        assert_eq!(d.with_mx, 9);
        assert_eq!(d.mx_operators.get("provider.example"), 2);
        assert_eq!(d.mx_operators.get("d9.example"), 1);
        assert_eq!(d.mx_status.get(NULL_KEY), 10, "absent column: null");
        let h = &a.hosts;
        assert_eq!(h.dnsbl_listed.get("zen.example"), 2);
        assert_eq!(h.dnsbl_listed_any, 2);
        assert_eq!(h.dnsbl_errors.get("other.example"), 1);
        assert_eq!(h.asn[&64500].hosts, 2);
        assert_eq!(h.asn[&64500].listed.get("zen.example"), 1);
        assert_eq!(h.asn_unknown, 1);
        assert_eq!(h.asn[&64500].rpki.get("valid"), 1);
        assert_eq!(h.asn[&64500].rpki.get("invalid"), 1);
        assert_eq!(h.rpki_status.get(NULL_KEY), 1, "no route: null");
        assert_eq!(h.fcrdns.get("true"), 2);
        assert_eq!(h.tls_version.get("TLSv1.3"), 3);
        // Readiness: d0, d3 (+all is still valid SPF) and d9 meet everything; d8's only MX
        // address has no FCrDNS; d7 (null MX) has no address to judge.
        let rd = &a.readiness;
        assert_eq!(rd.failed.get("spf-over-limit"), 1);
        assert_eq!(rd.failed.get("spf-none"), 1);
        assert_eq!(rd.failed.get("dmarc-none"), 1);
        assert_eq!(rd.failed.get("dkim-weak"), 1);
        assert_eq!(rd.failed.get("dkim-none"), 1);
        assert_eq!(rd.failed.get("mx-fcrdns"), 1, "d8's 192.0.2.2");
        assert_eq!(rd.unknown.get("mx-fcrdns"), 1, "d7: null MX, no address");
        assert_eq!(rd.ready.get("true"), 3, "d0, d3, d9");
        assert_eq!(rd.ready.total(), 10);
    }

    const NULL_KEY: &str = crate::report::aggregate::NULL;

    #[test]
    fn shards_merge_to_the_unsharded_aggregates() {
        let all: Vec<usize> = (0..10).collect();
        let one = vec![vec![(all.clone(), vec![0, 1, 2])]];
        // Parts in any order and directory, hosts shared by shards repeated in each.
        let layouts: Vec<Vec<Vec<Part>>> = vec![
            vec![vec![
                (vec![0, 1, 2], vec![0]),
                (vec![3, 4, 5, 6], vec![1, 2]),
                (vec![7, 8, 9], vec![]),
            ]],
            vec![
                vec![(vec![9, 0], vec![0, 2])],
                vec![(vec![1, 2, 3], vec![1, 0])],
                vec![(vec![4], vec![]), (vec![5, 6], vec![2])],
                vec![(vec![7, 8], vec![2, 1, 0])],
            ],
        ];
        let t = tempfile::tempdir().unwrap();
        let (want, _) = aggregate(&t.path().join("one"), &one);
        for (k, l) in layouts.iter().enumerate() {
            let (got, reading) = aggregate(&t.path().join(format!("l{k}")), l);
            assert_eq!(got, want, "layout {k}");
            let copies: usize = l.iter().flatten().map(|(_, h)| h.len()).sum();
            assert_eq!(reading.host_duplicates as usize, copies - 3, "layout {k}");
        }
    }

    #[test]
    fn a_part_being_written_is_skipped_and_counted() {
        let t = tempfile::tempdir().unwrap();
        let dirs = scan_dirs(t.path(), &[vec![((0..10).collect(), vec![0, 1, 2])]]);
        let (want, _, _) = read_all(&dirs, &t.path().join("r0")).unwrap();
        // A part whose footer is not written yet, and the writer's hidden temporary file.
        let part = dirs[0].join("domains/part-00000.parquet");
        let bytes = std::fs::read(&part).unwrap();
        std::fs::write(
            dirs[0].join("domains/part-00001.parquet"),
            &bytes[..bytes.len() / 2],
        )
        .unwrap();
        std::fs::write(dirs[0].join("hosts/.part-00001.parquet.tmp"), b"PAR1").unwrap();
        let (got, reading, readiness) = read_all(&dirs, &t.path().join("r1")).unwrap();
        assert_eq!(got, want);
        assert_eq!(reading.skipped.len(), 1, "{:?}", reading.skipped);
        assert!(
            reading.skipped[0]
                .path
                .ends_with("domains/part-00001.parquet")
        );
        assert_eq!(reading.domain_parts, 1);
        // The readiness table has one row per domain, in part order.
        let f = File::open(readiness).unwrap();
        let rows: usize = ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap()
            .map(|b| b.unwrap().num_rows())
            .sum();
        assert_eq!(rows, 10);
    }

    #[test]
    fn no_parts_is_an_error_not_an_empty_report() {
        let t = tempfile::tempdir().unwrap();
        let e = read_all(&[t.path().to_path_buf()], &t.path().join("r")).unwrap_err();
        assert!(matches!(e, ReportError::NoParts(_)), "{e}");
        let e = read_all(&[t.path().join("missing")], &t.path().join("r")).unwrap_err();
        assert!(matches!(e, ReportError::NotADirectory(_)), "{e}");
    }

    #[test]
    fn problem_codes() {
        let cases = [
            ("lookup-limit: 12 lookups", "lookup-limit"),
            ("dns-servfail: MX query servfail", "dns-servfail"),
            ("weak-key: s1: 512 bits", "weak-key"),
            // Not a code of this build: still its own key.
            ("syntax", "syntax"),
            ("future-code: text", "future-code"),
        ];
        for (p, want) in cases {
            assert_eq!(code(p), want, "{p}");
        }
        assert_eq!(zone("zen.example: 127.255.255.254"), "zen.example");
    }
}
