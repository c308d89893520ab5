//! A small SMTP server for the tests: accepts every message and keeps it. It speaks plain
//! SMTP, TLS from the first byte (`smtps://`), or offers STARTTLS, with a certificate from a
//! certificate authority the test creates.

use crate::tls::TestPki;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// How the server protects its sessions.
#[derive(Clone)]
pub enum Security {
    Plain,
    /// TLS from the first byte.
    Implicit(TlsAcceptor),
    /// Plain, offering STARTTLS.
    StartTls(TlsAcceptor),
}

/// One received message: envelope recipients and the raw data.
#[derive(Debug, Clone)]
pub struct Received {
    pub recipients: Vec<String>,
    pub data: String,
    /// Whether the message arrived over TLS.
    pub tls: bool,
    /// The credentials given with AUTH PLAIN, if any.
    pub auth: Option<String>,
}

/// A running SMTP server on a local port.
pub struct SmtpServer {
    pub port: u16,
    pub received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpServer {
    /// Listens on `port` (0: any free port), in plain text.
    pub async fn start(port: u16) -> SmtpServer {
        Self::start_with(port, Security::Plain).await
    }

    /// TLS from the first byte, with a certificate of `pki` for `localhost`.
    pub async fn start_implicit_tls(pki: &TestPki) -> SmtpServer {
        Self::start_with(0, Security::Implicit(pki.acceptor())).await
    }

    /// Plain, offering STARTTLS with a certificate of `pki` for `localhost`.
    pub async fn start_starttls(pki: &TestPki) -> SmtpServer {
        Self::start_with(0, Security::StartTls(pki.acceptor())).await
    }

    async fn start_with(port: u16, security: Security) -> SmtpServer {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("SMTP port");
        let port = listener.local_addr().expect("address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (sink, security) = (sink.clone(), security.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, sink, security).await;
                });
            }
        });
        SmtpServer {
            port,
            received,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn messages(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    stream: tokio::net::TcpStream,
    sink: Arc<Mutex<Vec<Received>>>,
    security: Security,
) -> std::io::Result<()> {
    match security {
        Security::Plain => {
            session(stream, &sink, false, false, true).await?;
        }
        Security::Implicit(acceptor) => {
            let tls = acceptor.accept(stream).await?;
            session(tls, &sink, false, true, true).await?;
        }
        Security::StartTls(acceptor) => {
            if let Some(plain) = session(stream, &sink, true, false, true).await? {
                let tls = acceptor.accept(plain).await?;
                // After STARTTLS the client speaks first (EHLO again).
                session(tls, &sink, false, true, false).await?;
            }
        }
    }
    Ok(())
}

/// One SMTP session; with STARTTLS offered, the stream to upgrade once the client asks.
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    sink: &Mutex<Vec<Received>>,
    offer_starttls: bool,
    tls: bool,
    greet: bool,
) -> std::io::Result<Option<S>> {
    let mut stream = BufReader::new(stream);
    if greet {
        stream.write_all(b"220 test.smtp ESMTP ready\r\n").await?;
    }
    let mut recipients = Vec::new();
    let mut auth = None;
    let mut line = String::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            break;
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            let offer: &[u8] = if offer_starttls {
                b"250-test.smtp\r\n250-STARTTLS\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n"
            } else {
                b"250-test.smtp\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n"
            };
            stream.write_all(offer).await?;
        } else if upper == "STARTTLS" && offer_starttls {
            stream.write_all(b"220 go ahead\r\n").await?;
            stream.flush().await?;
            return Ok(Some(stream.into_inner()));
        } else if upper.starts_with("AUTH PLAIN") {
            auth = line.get(11..).map(str::to_owned);
            stream.write_all(b"235 authenticated\r\n").await?;
        } else if upper.starts_with("MAIL FROM") {
            recipients.clear();
            stream.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("RCPT TO") {
            let address = line
                .split_once(':')
                .map(|(_, a)| a.trim().trim_matches(|c| c == '<' || c == '>').to_owned())
                .unwrap_or_default();
            recipients.push(address);
            stream.write_all(b"250 OK\r\n").await?;
        } else if upper == "DATA" {
            stream.write_all(b"354 go ahead\r\n").await?;
            let mut data = String::new();
            let mut part = String::new();
            loop {
                part.clear();
                if stream.read_line(&mut part).await? == 0 {
                    return Ok(None);
                }
                let part = part.trim_end_matches(['\r', '\n']);
                if part == "." {
                    break;
                }
                data.push_str(part);
                data.push('\n');
            }
            sink.lock().expect("lock").push(Received {
                recipients: recipients.clone(),
                data,
                tls,
                auth: auth.clone(),
            });
            stream.write_all(b"250 queued\r\n").await?;
        } else if upper == "QUIT" {
            stream.write_all(b"221 bye\r\n").await?;
            break;
        } else if upper == "RSET" || upper == "NOOP" {
            stream.write_all(b"250 OK\r\n").await?;
        } else {
            stream.write_all(b"502 not implemented\r\n").await?;
        }
    }
    Ok(None)
}
