//! SurvNet as a receiving format (the engine's [`InboundFormat`]): every file of an archive
//! is named as Handbuch 72.1.1 says, every transport file carries the same header, which
//! matches its name and this office, and each record version says what it does. The
//! reading itself is `hub-plugin-rki`'s (the same code as the plugin, built natively).
//!
//! A transport is read twice, as streams: once for its header (the root elements only),
//! then record by record for its versions, which go to the store as they come.

use hub_core::config::{InboundConfig, InboundFormat as FormatName, InboundLimits, setting_text};
use hub_core::time::Civil;
use hub_engine::inbound::archive::Archive;
use hub_engine::inbound::format::{
    Body, Formats, Header, InboundFormat, Incoming, ReceiptLine, ReceiptOut,
};
use hub_engine::inbound::take::Taken;
use hub_plugin_rki::receiving::{
    FileKind, Receiver, classify, may_edit, receipt_name, retransmission_request,
    retransmission_request_name, version_json_text,
};
use hub_plugin_rki::{
    ParsedTransport, Receipt, ReceiptRecord, ReceiptResult, ReceiptWriter, TransportReader,
    XmlLimits,
};
use hub_plugin_sdk::Settings;
use hub_plugin_sdk::text::excerpt;

/// The formats this hub reads, by the name an `[[inbound]]` gives.
#[derive(Debug, Default)]
pub struct HubFormats;

impl Formats for HubFormats {
    fn format(&self, cfg: &InboundConfig) -> Result<Box<dyn InboundFormat>, String> {
        match cfg.format {
            FormatName::Survnet => Ok(Box::new(Survnet::new(cfg)?)),
        }
    }
}

/// An office receiving SurvNet transports.
#[derive(Debug)]
pub struct Survnet {
    receiver: Receiver,
    limits: XmlLimits,
}

impl Survnet {
    /// The inbound's settings, checked as the format reads them.
    pub fn new(cfg: &InboundConfig) -> Result<Self, String> {
        let settings = Settings(
            cfg.settings
                .iter()
                .filter_map(|(k, v)| setting_text(v).map(|v| (k.clone(), v)))
                .collect(),
        );
        Ok(Self {
            receiver: Receiver::from_settings(&settings)?,
            limits: xml_limits(&cfg.limits),
        })
    }
}

/// The XML limits of an inbound.
pub fn xml_limits(limits: &InboundLimits) -> XmlLimits {
    let kib = |k: u64| usize::try_from(k.saturating_mul(1024)).unwrap_or(usize::MAX);
    XmlLimits {
        max_value_bytes: kib(limits.max_value_kb),
        max_record_bytes: kib(limits.max_record_kb),
    }
}

impl InboundFormat for Survnet {
    fn site(&self) -> &str {
        self.receiver.site()
    }

    /// The RKI (`1.`) and this office's state (`1.01.0.02.` → `1.01.*`).
    fn default_senders(&self) -> Vec<String> {
        let own = self.receiver.site();
        let state: String = own.split_inclusive('.').take(2).collect();
        let mut out = vec!["1.".to_string()];
        if state.len() > 2 && state != "1." {
            out.push(format!("{state}*"));
        }
        out
    }

    fn header(&self, archive: &mut Archive<'_>) -> Result<Header, String> {
        let names: Vec<String> = archive.names().map(str::to_string).collect();
        let mut first: Option<(String, ParsedTransport)> = None;
        let mut documents = 0;
        for (i, name) in names.iter().enumerate() {
            match classify(name).map_err(|e| excerpt(&e))? {
                FileKind::Document { .. } => documents += 1,
                FileKind::Transport { .. } => {
                    let t = archive.read(i, |r| {
                        TransportReader::open(r, self.limits)
                            .map(|(_, t)| t)
                            .map_err(|m| format!("`{name}`: {m}"))
                    })?;
                    self.receiver
                        .check_header(name, &t)
                        .map_err(|e| excerpt(&e))?;
                    if let Some((first_name, f)) = &first
                        && (f.guid_transport != t.guid_transport
                            || f.code_site_sender != t.code_site_sender
                            || f.transport_number != t.transport_number)
                    {
                        return Err(format!(
                            "`{name}` belongs to another transport than `{first_name}` (GuidTransport or number differ)"
                        ));
                    }
                    if first.is_none() {
                        first = Some((name.clone(), t));
                    }
                }
            }
        }
        let Some((_, first)) = first else {
            return Err(
                "the archive holds no transport file RKI_<sender>_<receiver>_<nnnnnnnn>.xml".into(),
            );
        };
        Ok(Header {
            sender: first.code_site_sender.clone(),
            receiver: first.code_site_receiver.clone(),
            number: first.transport_number,
            guid: first.guid_transport.clone(),
            documents,
            detail: Box::new(first),
        })
    }

    fn versions(
        &self,
        archive: &mut Archive<'_>,
        sender: &str,
        each: &mut dyn FnMut(&str, Incoming) -> Result<(), Taken>,
    ) -> Result<(), Taken> {
        let names: Vec<String> = archive.names().map(str::to_string).collect();
        for (i, name) in names.iter().enumerate() {
            match classify(name).map_err(|e| Taken::from(excerpt(&e)))? {
                FileKind::Document { .. } => archive.skip(i).map_err(Taken::from)?,
                FileKind::Transport { .. } => archive.read::<(), Taken>(i, |r| {
                    let (mut reader, t) = TransportReader::open(r, self.limits)
                        .map_err(|m| Taken::from(format!("`{name}`: {m}")))?;
                    let receiver: std::sync::Arc<str> = t.code_site_receiver.as_str().into();
                    let mut at = reader.position();
                    while let Some(v) = reader
                        .next_record()
                        .map_err(|m| Taken::from(format!("`{name}`: {m}")))?
                    {
                        let action = self.receiver.action_of(&v, sender);
                        let refused = match action.map(|a| self.receiver.check_incoming(a, sender))
                        {
                            Some(Err(why)) => Some(("WRONG_DIRECTION", excerpt(&why))),
                            _ => None,
                        };
                        let size = usize::try_from(reader.position() - at).unwrap_or(usize::MAX);
                        at = reader.position();
                        let (record_id, version, kind) =
                            (v.guid_record.clone(), v.version_no, v.category.clone());
                        let action = action.map(str::to_string);
                        let receiver = receiver.clone();
                        // Written as JSON on the storing thread (see `Body`).
                        let write = Box::new(move || version_json_text(&v, &receiver));
                        each(
                            name,
                            Incoming {
                                record_id,
                                version,
                                kind,
                                action,
                                body: Body::Later { size, write },
                                refused,
                            },
                        )?;
                    }
                    Ok(())
                })?,
            }
        }
        Ok(())
    }

    fn may_edit(&self, sender: &str, owner: &str) -> bool {
        may_edit(sender, owner)
    }

    fn receipt(&self, header: &Header) -> Result<(String, Box<dyn ReceiptOut>), String> {
        let first = header
            .detail
            .downcast_ref::<ParsedTransport>()
            .ok_or("a header not read as SurvNet")?;
        Ok((
            receipt_name(first),
            Box::new(SurvnetReceipt(ReceiptWriter::new(&Receipt::imported(
                first,
            )))),
        ))
    }

    fn missing_request(&self, sender: &str, missing: &[u64], now: Civil) -> (String, Vec<u8>) {
        let created = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000",
            now.year, now.month, now.day, now.hour, now.minute, now.second
        );
        let site = self.receiver.site();
        (
            retransmission_request_name(site, sender, missing),
            retransmission_request(site, sender, missing, &created),
        )
    }
}

/// A SurvNet receipt written record by record.
struct SurvnetReceipt(ReceiptWriter);

impl ReceiptOut for SurvnetReceipt {
    fn record(&mut self, line: ReceiptLine) {
        self.0.record(&ReceiptRecord {
            result: if line.imported {
                ReceiptResult::Imported
            } else {
                ReceiptResult::Rejected
            },
            code: line.code,
            message: line.message,
            guid_record: line.record_id,
            version_no: line.version,
        });
    }

    fn pending(&self) -> usize {
        self.0.pending()
    }

    fn drain_into(&mut self, mut out: &mut dyn std::io::Write) -> std::io::Result<()> {
        self.0.drain_into(&mut out)
    }

    fn finish_into(self: Box<Self>, mut out: &mut dyn std::io::Write) -> std::io::Result<()> {
        self.0.finish_into(&mut out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn office(site: &str, extra: &str) -> (InboundConfig, Survnet) {
        let cfg: InboundConfig = toml::from_str(&format!(
            "name = \"in\"\nformat = \"survnet\"\ninbox = \"inbox\"\n\
             answers = {{ type = \"dir\", path = \"a\" }}\n{extra}\n\
             [settings]\nsender = \"{site}\"\nrole = \"state-office\"\n"
        ))
        .expect("inbound");
        let f = Survnet::new(&cfg).expect("format");
        (cfg, f)
    }

    #[test]
    fn senders_default_to_the_rki_and_the_own_state() {
        let (_, f) = office("1.01.", "");
        assert_eq!(f.default_senders(), ["1.", "1.01.*"]);
        let allowed = f.default_senders();
        let ok = |s: &str| hub_core::config::sender_matches(&allowed, s);
        assert!(ok("1.01.0.02.") && ok("1."));
        assert!(!ok("1.02.0.01.") && !ok("1.010.0.01."));
        // A listed set replaces the default.
        let (cfg, _) = office("1.01.", "senders = [\"1.03.*\"]");
        assert_eq!(cfg.senders, Some(vec!["1.03.*".to_string()]));
    }
}
