//! The whole ledger as a file, streamed: rows are read in chunks and sent as they are
//! written, so a ledger of millions of rows never sits in memory.

use crate::access::benefit_for;
use crate::auth::Caller;
use crate::context::RequestContext;
use crate::error::ApiError;
use crate::extract::blocking;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{get, web, HttpResponse};
use domain::auth::Action;
use domain::ids::BenefitId;
use domain::ledger::Figures;
use domain::metering::LedgerEntry;
use domain::ports::LedgerHistory;
use domain::Language;
use persistence::Database;
use serde::Deserialize;
use std::io::{self, Read};
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Rows read from the database at a time.
const CHUNK_ROWS: i64 = 5_000;
/// Bytes sent at a time.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks waiting for a slow client before the reader pauses.
const CHANNEL_DEPTH: usize = 4;

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Csv,
    Xlsx,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `csv` (UTF-8, comma-separated) or `xlsx` (an Excel workbook).
    #[param(inline)]
    pub format: ExportFormat,
}

type Chunk = Result<Bytes, io::Error>;

/// Export the transaction history
///
/// The whole ledger, oldest first, as a CSV or XLSX file download (`Content-Disposition:
/// attachment`). Streamed: any size of ledger starts quickly and uses little memory. Column
/// titles follow `Accept-Language`.
#[utoipa::path(
    tag = "ledger",
    params(("benefit_id" = Uuid, Path, description = "The benefit"), ExportQuery),
    responses(
        (status = 200, description = "The ledger as a file", content(
            (String = "text/csv"),
            (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        )),
        (status = 404, response = openapi::NotFound),
    )
)]
#[get("/benefits/{benefit_id}/transactions/export")]
pub async fn export(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    context: RequestContext,
    path: web::Path<Uuid>,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = BenefitId(path.into_inner());
    {
        let state = state.clone();
        blocking(move || benefit_for(&state, &caller, id, Action::ReadOrganization)).await?;
    }
    let (sender, mut receiver) = mpsc::channel::<Chunk>(CHANNEL_DEPTH);
    let db = state.db.clone();
    let language = context.language;
    let format = query.format;
    actix_web::rt::task::spawn_blocking(move || {
        let result = match format {
            ExportFormat::Csv => write_csv(&db, id, language, &sender),
            ExportFormat::Xlsx => write_xlsx(&db, id, language, &sender),
        };
        if let Err(e) = result {
            // The client already has a 200: cut the body so the download shows as failed.
            tracing::error!(benefit = %id, error = %e, "export failed");
            let _ = sender.blocking_send(Err(e));
        }
    });
    let body = futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx));
    let (content_type, extension) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ExportFormat::Xlsx => (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"ledger-{id}.{extension}\""),
        ))
        .streaming(body))
}

/// Calls `each` with every entry of the ledger, oldest first, one chunk at a time. The next
/// chunk is read on a thread of its own while `each` writes the current one, so the
/// database and the file format each have a core; at most two chunks are held.
fn for_each_entry(
    db: &(impl LedgerHistory + Sync),
    id: BenefitId,
    rows: i64,
    mut each: impl FnMut(&LedgerEntry) -> io::Result<()>,
) -> io::Result<()> {
    let (chunks, received) = std::sync::mpsc::sync_channel::<io::Result<Vec<LedgerEntry>>>(1);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut after = 0;
            loop {
                let read = db.entries_after(id, after, rows).map_err(io::Error::other);
                let next = match &read {
                    Ok(entries) if entries.len() as i64 == rows => entries.last().map(|e| e.seq),
                    _ => None,
                };
                // A closed channel: the writer stopped (the client went away).
                if chunks.send(read).is_err() {
                    return;
                }
                match next {
                    Some(seq) => after = seq,
                    None => return,
                }
            }
        });
        for chunk in received {
            for entry in &chunk? {
                each(entry)?;
            }
        }
        Ok(())
    })
}

fn send(sender: &mpsc::Sender<Chunk>, bytes: Vec<u8>) -> io::Result<()> {
    sender
        .blocking_send(Ok(Bytes::from(bytes)))
        .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
}

/// A CSV field; text a spreadsheet would take for a formula is prefixed with `'`.
fn csv_text(out: &mut String, value: &str) {
    let guarded = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&guarded.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&guarded);
    }
}

fn optional_number(value: Option<i64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn csv_row(out: &mut String, e: &LedgerEntry, language: Language) {
    use std::fmt::Write;
    let _ = write!(
        out,
        "{},{},{},",
        e.seq,
        e.created_at.format("%Y-%m-%dT%H:%M:%S%.6fZ"),
        e.kind.code(),
    );
    csv_text(out, e.kind.label().get(language));
    let _ = write!(
        out,
        ",{},{},{},{},{},{},",
        e.remaining_change(),
        e.entitled_change(),
        e.used_change(),
        optional_number(e.after.map(|f| f.quantity)),
        optional_number(e.after.map(|f| f.used)),
        optional_number(e.after.map(Figures::remaining)),
    );
    csv_text(out, &e.actor_subject);
    out.push(',');
    out.push_str(e.actor_role.code());
    out.push(',');
    out.push_str(&e.partner.map(|p| p.to_string()).unwrap_or_default());
    out.push(',');
    csv_text(out, e.reference.as_deref().unwrap_or(""));
    out.push(',');
    csv_text(out, e.note.as_deref().unwrap_or(""));
    out.push(',');
    out.push_str(&e.id.to_string());
    out.push_str("\r\n");
}

fn write_csv(
    db: &Database,
    id: BenefitId,
    language: Language,
    sender: &mpsc::Sender<Chunk>,
) -> io::Result<()> {
    let mut buffer = String::with_capacity(CHUNK_BYTES + 1024);
    // A byte-order mark: spreadsheet programs (in French too) then read the file as UTF-8.
    buffer.push('\u{feff}');
    buffer.push_str(&export_columns(language).join(","));
    buffer.push_str("\r\n");
    for_each_entry(db, id, CHUNK_ROWS, |entry| {
        csv_row(&mut buffer, entry, language);
        if buffer.len() >= CHUNK_BYTES {
            send(sender, std::mem::take(&mut buffer).into_bytes())?;
            buffer.reserve(CHUNK_BYTES + 1024);
        }
        Ok(())
    })?;
    if !buffer.is_empty() {
        send(sender, buffer.into_bytes())?;
    }
    Ok(())
}

/// Rows of one worksheet, the header included.
const SHEET_ROWS: u32 = 1_048_576;

fn write_xlsx(
    db: &Database,
    id: BenefitId,
    language: Language,
    sender: &mpsc::Sender<Chunk>,
) -> io::Result<()> {
    use rust_xlsxwriter::{Format, Workbook};
    let xlsx = |e: rust_xlsxwriter::XlsxError| io::Error::other(e.to_string());
    let directory = tempfile::tempdir()?;
    let mut workbook = Workbook::new();
    workbook.set_tempdir(directory.path()).map_err(xlsx)?;
    // Level 2 instead of 6: compressing took much of a big export's time, for a slightly
    // smaller file (figures in docs/PERFORMANCE.md).
    workbook.set_zip_compression_level(2);
    let bold = Format::new().set_bold();
    let date = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let columns = export_columns(language);
    let mut sheets = 0;
    let mut row = SHEET_ROWS;
    for_each_entry(db, id, CHUNK_ROWS, |e| {
        if row >= SHEET_ROWS {
            sheets += 1;
            let new = workbook
                .add_worksheet_with_constant_memory()
                .map_err(xlsx)?;
            new.set_name(if sheets == 1 {
                sheet_name(language).to_owned()
            } else {
                format!("{} {sheets}", sheet_name(language))
            })
            .map_err(xlsx)?;
            for (col, title) in columns.iter().enumerate() {
                new.write_string_with_format(0, col as u16, *title, &bold)
                    .map_err(xlsx)?;
            }
            new.set_column_width(1, 20).map_err(xlsx)?;
            new.set_column_width(10, 28).map_err(xlsx)?;
            row = 1;
        }
        // Constant memory mode writes the sheets one after the other: only the last is open.
        let ws = workbook.worksheet_from_index(sheets - 1).map_err(xlsx)?;
        let number =
            |ws: &mut rust_xlsxwriter::Worksheet, col: u16, v: Option<i64>| -> io::Result<()> {
                if let Some(v) = v {
                    ws.write_number(row, col, v as f64).map_err(xlsx)?;
                }
                Ok(())
            };
        number(ws, 0, Some(e.seq))?;
        ws.write_datetime_with_format(row, 1, e.created_at.naive_utc(), &date)
            .map_err(xlsx)?;
        ws.write_string(row, 2, e.kind.code()).map_err(xlsx)?;
        ws.write_string(row, 3, e.kind.label().get(language))
            .map_err(xlsx)?;
        number(ws, 4, Some(e.remaining_change()))?;
        number(ws, 5, Some(e.entitled_change()))?;
        number(ws, 6, Some(e.used_change()))?;
        number(ws, 7, e.after.map(|f| f.quantity))?;
        number(ws, 8, e.after.map(|f| f.used))?;
        number(ws, 9, e.after.map(Figures::remaining))?;
        ws.write_string(row, 10, &e.actor_subject).map_err(xlsx)?;
        ws.write_string(row, 11, e.actor_role.code())
            .map_err(xlsx)?;
        if let Some(p) = e.partner {
            ws.write_string(row, 12, p.to_string()).map_err(xlsx)?;
        }
        if let Some(r) = &e.reference {
            ws.write_string(row, 13, r).map_err(xlsx)?;
        }
        if let Some(n) = &e.note {
            ws.write_string(row, 14, n).map_err(xlsx)?;
        }
        ws.write_string(row, 15, e.id.to_string()).map_err(xlsx)?;
        row += 1;
        Ok(())
    })?;
    if sheets == 0 {
        let ws = workbook
            .add_worksheet_with_constant_memory()
            .map_err(xlsx)?;
        ws.set_name("Ledger").map_err(xlsx)?;
        for (col, title) in columns.iter().enumerate() {
            ws.write_string_with_format(0, col as u16, *title, &bold)
                .map_err(xlsx)?;
        }
    }
    let path = directory.path().join("ledger.xlsx");
    workbook.save(&path).map_err(xlsx)?;
    let mut file = std::fs::File::open(&path)?;
    loop {
        let mut chunk = vec![0; CHUNK_BYTES];
        let n = file.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        chunk.truncate(n);
        send(sender, chunk)?;
    }
}

/// Column titles of the exports. `quantity` is the change of what remains (the column sums
/// to `remaining`); `entitled_change` and `used_change` sum to the quantity and to what is
/// used.
pub fn export_columns(language: Language) -> [&'static str; 16] {
    match language {
        Language::En => [
            "seq",
            "created_at",
            "kind",
            "kind_label",
            "quantity",
            "entitled_change",
            "used_change",
            "quantity_after",
            "used_after",
            "remaining_after",
            "actor",
            "role",
            "partner_id",
            "reference",
            "note",
            "id",
        ],
        Language::Fr => [
            "seq",
            "date",
            "type",
            "libellé",
            "quantité",
            "variation_droits",
            "variation_utilisé",
            "quantité_après",
            "utilisé_après",
            "restant_après",
            "auteur",
            "rôle",
            "partenaire",
            "référence",
            "note",
            "id",
        ],
    }
}

/// The name of the exports' sheet.
pub fn sheet_name(language: Language) -> &'static str {
    match language {
        Language::En => "Ledger",
        Language::Fr => "Registre",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::auth::Role;
    use domain::error::StorageError;
    use domain::ids::TransactionId;
    use domain::ledger::EntryKind;
    use domain::metering::LedgerFilter;
    use domain::page::{Page, PageRequest};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A ledger of `len` consumptions; the read after `fail_after` entries fails.
    struct Ledger {
        len: i64,
        fail_after: Option<i64>,
        reads: AtomicUsize,
    }

    impl Ledger {
        fn new(len: i64) -> Self {
            Self {
                len,
                fail_after: None,
                reads: AtomicUsize::new(0),
            }
        }
    }

    fn entry(seq: i64) -> LedgerEntry {
        LedgerEntry {
            id: TransactionId(Uuid::new_v4()),
            benefit_id: BenefitId(Uuid::nil()),
            seq,
            kind: EntryKind::Consumption,
            amount: 1,
            after: None,
            actor_subject: "test".into(),
            actor_role: Role::CustomerAdmin,
            partner: None,
            reference: None,
            note: None,
            created_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    impl LedgerHistory for Ledger {
        fn entries(
            &self,
            _: BenefitId,
            _: &LedgerFilter,
            _: &PageRequest,
        ) -> Result<Page<LedgerEntry>, StorageError> {
            Err(StorageError("not used by exports".into()))
        }
        fn entries_after(
            &self,
            _: BenefitId,
            after: i64,
            limit: i64,
        ) -> Result<Vec<LedgerEntry>, StorageError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            if self.fail_after.is_some_and(|f| after >= f) {
                return Err(StorageError("the database went away".into()));
            }
            Ok((after + 1..=self.len.min(after + limit))
                .map(entry)
                .collect())
        }
        fn totals(&self, _: BenefitId) -> Result<Vec<(EntryKind, i64)>, StorageError> {
            Err(StorageError("not used by exports".into()))
        }
        fn figures_with_totals(
            &self,
            _: BenefitId,
        ) -> Result<Option<domain::ports::LedgerSnapshot>, StorageError> {
            Err(StorageError("not used by exports".into()))
        }
    }

    fn seen(ledger: &Ledger, rows: i64) -> (Vec<i64>, io::Result<()>) {
        let mut seqs = Vec::new();
        let result = for_each_entry(ledger, BenefitId(Uuid::nil()), rows, |e| {
            seqs.push(e.seq);
            Ok(())
        });
        (seqs, result)
    }

    #[test]
    fn every_entry_is_written_once_in_order_across_chunks() {
        for (len, rows) in [(23, 5), (10, 5), (0, 5), (4, 5), (1, 1)] {
            let (seqs, result) = seen(&Ledger::new(len), rows);
            assert!(result.is_ok());
            assert_eq!(
                seqs,
                (1..=len).collect::<Vec<_>>(),
                "{len} entries in chunks of {rows}"
            );
        }
    }

    #[test]
    fn a_failed_read_ends_the_export_with_its_error() {
        let ledger = Ledger {
            fail_after: Some(10),
            ..Ledger::new(100)
        };
        let (seqs, result) = seen(&ledger, 5);
        assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
        assert!(result.unwrap_err().to_string().contains("went away"));
    }

    /// A client that goes away stops the reading too: of 20 chunks, the reader gets at
    /// most two ahead of the writer before it notices.
    #[test]
    fn a_failed_write_stops_the_reader() {
        let ledger = Ledger::new(100);
        let result = for_each_entry(&ledger, BenefitId(Uuid::nil()), 5, |e| {
            if e.seq == 7 {
                return Err(io::Error::new(io::ErrorKind::BrokenPipe, "gone"));
            }
            Ok(())
        });
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        assert!(
            ledger.reads.load(Ordering::SeqCst) <= 4,
            "{:?}",
            ledger.reads
        );
    }

    #[test]
    fn csv_text_is_quoted_and_guarded_against_formulas() {
        let mut out = String::new();
        csv_text(&mut out, "plain");
        out.push('|');
        csv_text(&mut out, "a,\"b\"");
        out.push('|');
        csv_text(&mut out, "=HYPERLINK(\"x\")");
        assert_eq!(out, "plain|\"a,\"\"b\"\"\"|\"'=HYPERLINK(\"\"x\"\")\"");
    }
}
