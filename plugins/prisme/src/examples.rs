//! Valid example input for benchmarks and tests: not part of the plugin contract.

use hub_plugin_sdk::{Record, Settings};
use serde_json::json;

/// Settings that pass `check_settings` (Sermersooq, test environment).
pub fn settings() -> Settings {
    Settings(
        [
            ("municipality", "sermersooq"),
            ("environment", "test"),
            ("organisation_unit", "0956"),
            ("registration_site", "000"),
            ("supplier_ident", "WI01"),
            ("user_no", "0900"),
            ("payment_type", "209"),
            ("fiscal_year_field", "false"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    )
}

/// `n` valid records of page 522, fiscal year 2024 (batch key `522-24`): postings in
/// balanced debit/credit pairs with ascending expedition numbers, and about one record in
/// nine a debtor (an odd last slot is always one).
pub fn records(n: usize) -> Vec<Record> {
    let mut out = Vec::with_capacity(n);
    let mut expedition = 0u64;
    let mut step = 0usize;
    while out.len() < n {
        let i = out.len();
        step += 1;
        // Every fifth step (about one record in nine) and an odd last slot: a debtor.
        if step.is_multiple_of(5) || n - i == 1 {
            out.push(debtor(i));
            continue;
        }
        expedition += 1;
        let amount = 10_000 + (i as i64 % 997) * 125;
        let date = format!("202401{:02}", 1 + (i / 2) % 28);
        for (dk, account) in [("D", "9002009002"), ("K", "4210100000")] {
            out.push(Record {
                id: format!("p{}", out.len() + 1),
                kind: "posting".into(),
                body: json!({
                    "page": "522",
                    "fiscal_year": "2024",
                    "callname": "WINF522",
                    "machine_no": "00123",
                    "expedition_no": expedition,
                    "posting_date": date,
                    "account": account,
                    "amount_ore": amount,
                    "dk": dk,
                    "text": format!("Daginst. jan 2024 nr {expedition}"),
                })
                .to_string(),
            });
        }
    }
    out
}

fn debtor(i: usize) -> Record {
    let cpr = format!("{:010}", 101_900_000 + i);
    Record {
        id: format!("d{}", i + 1),
        kind: "debtor".into(),
        body: json!({
            "page": "522",
            "fiscal_year": "2024",
            "debtor_no": cpr,
            "amount_ore": 200_000,
            "due_date": "20240301",
            "founded_date": "20240131",
            "period_from": "20240101",
            "period_to": "20240131",
            "reconciliation_key": format!("WINF522-2024-01-{cpr}"),
            "texts": ["Vuggestue Piaaraq jan 2024: 2.500,00", "Friplads: -500,00"],
        })
        .to_string(),
    }
}
