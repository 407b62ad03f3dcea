//! Rebuilds the crate when a migration is added: `sqlx::migrate!` embeds the directory's files
//! at compile time, and cargo does not watch a directory by itself (sqlx's documented way).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
