//! The migrations are embedded in the binary (`embed_migrations!` in src/db/mod.rs); this
//! makes cargo rebuild it when one is added or changed, not only when Rust code changes.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
