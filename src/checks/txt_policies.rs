//! The TXT policies of a domain scan that need nothing but their own record at a fixed name (and
//! the DMARC outcome): TLS-RPT and BIMI. One list, [`txt_policies!`], declares them; the struct
//! that holds their findings, how they are looked up, judged and written all follow from it.
//!
//! A new one is a file in `src/checks/` whose findings implement [`TxtPolicyCheck`] (with its
//! columns) and one line in the list below: its columns come in the list's order in the domain
//! table, after MTA-STS's. MTA-STS (its policy fetch), DMARC (its discovery) and DKIM (its
//! selector plan) need more than one record and are wired by hand in `pipeline::policies`.

use std::future::Future;

use super::bimi::BimiFindings;
use super::dmarc::DmarcFindings;
use super::tls_rpt::TlsRptFindings;
use super::{Lookup, TxtPolicy, TxtPolicyCheck};
use crate::columns::Column;

/// Declares the TXT policies: the struct that holds their findings and what the scan does with
/// all of them.
macro_rules! txt_policies {
    ($($field:ident: $findings:ty,)*) => {
        /// The findings of every policy of [`txt_policies!`], one field each.
        #[derive(Debug, Clone, PartialEq)]
        pub struct TxtPolicies {
            $(pub $field: $findings,)*
        }

        impl TxtPolicies {
            /// A domain that does not exist (RFC 8020).
            pub fn nxdomain() -> TxtPolicies {
                TxtPolicies { $($field: <$findings as TxtPolicy>::nxdomain(),)* }
            }

            /// Not asked, or failed: temperror with `reason`.
            pub fn temperror(reason: &str) -> TxtPolicies {
                TxtPolicies { $($field: <$findings as TxtPolicy>::temperror(reason),)* }
            }

            /// One TXT question each, all at once: `txt` asks a name and gives its answer (the
            /// scan asks through its cache, a test from a map).
            pub async fn lookup<F, Fut>(domain: &str, txt: F) -> TxtPolicies
            where
                F: Fn(String) -> Fut,
                Fut: Future<Output = Lookup<String>>,
            {
                let ($($field,)*) = futures::join!($(lookup_one::<$findings, _, _>(domain, &txt),)*);
                TxtPolicies { $($field,)* }
            }

            pub fn with_dmarc(&mut self, dmarc: &DmarcFindings) {
                $(self.$field.with_dmarc(dmarc);)*
            }

            /// Their columns, in this list's order, each policy's in its own order.
            pub fn columns() -> Vec<Column<TxtPolicies>> {
                let mut columns = Vec::new();
                $(columns.extend(
                    <$findings as TxtPolicyCheck>::columns()
                        .into_iter()
                        .map(|c| c.within(|p: &TxtPolicies| Some(&p.$field))),
                );)*
                columns
            }
        }
    };
}

txt_policies! {
    tls_rpt: TlsRptFindings,
    bimi: BimiFindings,
}

/// The findings of policy `P` at `domain`, from the TXT answer at its name.
async fn lookup_one<P, F, Fut>(domain: &str, txt: &F) -> P
where
    P: TxtPolicyCheck,
    F: Fn(String) -> Fut,
    Fut: Future<Output = Lookup<String>>,
{
    let name = P::query_name(domain);
    let answer = txt(name.clone()).await;
    P::from_lookup(&name, &answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_policy_is_asked_at_its_own_name_and_judged_from_its_answer() {
        let asked = std::sync::Mutex::new(Vec::new());
        let found = futures::executor::block_on(TxtPolicies::lookup("d.example", |name| {
            asked.lock().unwrap().push(name.clone());
            async move {
                match name.as_str() {
                    "_smtp._tls.d.example" => {
                        Lookup::Records(vec!["v=TLSRPTv1; rua=mailto:r@d.example".into()])
                    }
                    _ => Lookup::TempError("timeout".into()),
                }
            }
        }));
        let mut asked = asked.into_inner().unwrap();
        asked.sort();
        assert_eq!(asked, ["_smtp._tls.d.example", "default._bimi.d.example"]);
        assert_eq!(found.tls_rpt.status.as_str(), "valid");
        assert_eq!(found.bimi.status.as_str(), "temperror");
        assert!(
            found.bimi.errors[0].contains("default._bimi.d.example TXT timeout"),
            "{:?}",
            found.bimi.errors
        );
    }
}
