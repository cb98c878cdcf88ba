//! Builds the one C file Kiln needs: `sigsetjmp`/`siglongjmp`, which Rust cannot call soundly.

fn main() {
    println!("cargo:rerun-if-changed=src/vm/setjmp.c");
    cc::Build::new()
        .file("src/vm/setjmp.c")
        .warnings(true)
        .compile("kiln_setjmp");
}
