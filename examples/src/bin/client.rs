//! `client HOST:PORT`: an interactive client for a gate node. Each line typed becomes one
//! packet (2-byte big-endian length + the line); each packet received is printed as a line.

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8888".to_string());
    let stream = match TcpStream::connect(&addr) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot connect to {addr}: {e}");
            std::process::exit(1);
        }
    };
    let _ = stream.set_nodelay(true);
    let mut reader = match stream.try_clone() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot clone the socket: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("connected to {addr}; type lines, Ctrl-D to quit");
    let printer = std::thread::spawn(move || {
        let mut header = [0u8; 2];
        loop {
            if reader.read_exact(&mut header).is_err() {
                eprintln!("connection closed");
                std::process::exit(0);
            }
            let mut body = vec![0u8; u16::from_be_bytes(header) as usize];
            if reader.read_exact(&mut body).is_err() {
                eprintln!("connection closed mid-packet");
                std::process::exit(0);
            }
            println!("{}", String::from_utf8_lossy(&body));
        }
    });
    let mut writer = stream;
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let bytes = line.as_bytes();
        if bytes.len() > 65_535 {
            eprintln!(
                "line too long for one packet ({} bytes, max 65535)",
                bytes.len()
            );
            continue;
        }
        let mut packet = Vec::with_capacity(bytes.len() + 2);
        packet.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        packet.extend_from_slice(bytes);
        if writer.write_all(&packet).is_err() {
            eprintln!("connection closed");
            break;
        }
    }
    let _ = writer.shutdown(std::net::Shutdown::Write);
    let _ = printer.join();
}
