//! Packaging a transfer's payloads into one archive, where the target wants that: SurvNet
//! zips every file of a transport for one receiver, documents included ("Alle für einen
//! Empfänger bestimmten Dateien eines Transportes werden gemeinsam gepackt").
//!
//! The archive is deterministic (fixed entry order, the transfer's time as the entries'
//! time, fixed permissions), so it is the same bytes every time it is built and can be
//! kept and sent again byte for byte.

use std::io::Write;

use hub_core::time::Civil;
use hub_store::NewPayload;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// Zips `payloads` into one payload named after the first one (`…/X.xml` → `…/X.zip`),
/// carrying all their records.
pub fn zip(payloads: Vec<NewPayload>, when: Civil) -> Result<NewPayload, String> {
    let first = payloads
        .first()
        .ok_or_else(|| "nothing to zip".to_string())?;
    let name = match first.name.rsplit_once('.') {
        Some((stem, _)) if !stem.ends_with('/') => format!("{stem}.zip"),
        _ => format!("{}.zip", first.name),
    };
    let mut labels = first.labels.clone();
    labels.push(("package".into(), "zip".into()));
    let time = DateTime::from_date_and_time(
        when.year.clamp(1980, 2107),
        when.month,
        when.day,
        when.hour,
        when.minute,
        when.second,
    )
    .map_err(|e| format!("cannot date the archive: {e}"))?;
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(time)
        .unix_permissions(0o644);
    let mut writer = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut records = Vec::new();
    for p in &payloads {
        writer
            .start_file(p.name.as_str(), options)
            .and_then(|()| writer.write_all(&p.bytes).map_err(Into::into))
            .map_err(|e| format!("cannot add {} to {name}: {e}", p.name))?;
        for r in &p.records {
            if !records.contains(r) {
                records.push(*r);
            }
        }
    }
    let bytes = writer
        .finish()
        .map_err(|e| format!("cannot finish {name}: {e}"))?
        .into_inner();
    Ok(NewPayload {
        name,
        media_type: "application/zip".into(),
        bytes,
        records,
        labels,
        request: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, bytes: &[u8], records: Vec<i64>) -> NewPayload {
        NewPayload {
            name: name.into(),
            media_type: "application/xml".into(),
            bytes: bytes.to_vec(),
            records,
            labels: vec![("transport".into(), "1".into())],
            request: None,
        }
    }

    #[test]
    fn zips_every_payload_deterministically() {
        let when = hub_core::time::Timestamp(1_706_788_800_000).civil(60);
        let make = || {
            zip(
                vec![
                    p("RKI_1._1.14._00000001.xml", b"<Transport/>", vec![1, 2]),
                    p(
                        "schema-12/RKI_1._1.14._00000001.xml",
                        b"<Transport v='12'/>",
                        vec![3],
                    ),
                    p("RKI_1.11.0.01._12345678_001.doc", b"\x00\xffdoc", vec![2]),
                ],
                when,
            )
            .unwrap()
        };
        let a = make();
        assert_eq!(a.name, "RKI_1._1.14._00000001.zip");
        assert_eq!(a.records, vec![1, 2, 3]);
        assert_eq!(a.bytes, make().bytes, "not deterministic");
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(a.bytes)).unwrap();
        assert_eq!(archive.len(), 3);
        let mut doc = Vec::new();
        std::io::Read::read_to_end(
            &mut archive.by_name("RKI_1.11.0.01._12345678_001.doc").unwrap(),
            &mut doc,
        )
        .unwrap();
        assert_eq!(doc, b"\x00\xffdoc");
        assert!(
            archive
                .by_name("schema-12/RKI_1._1.14._00000001.xml")
                .is_ok()
        );
    }
}
