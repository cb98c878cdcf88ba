//! Typed index spaces. Wasm numbers imported entities first, then defined ones; keeping
//! the two spaces apart in the type system stops an import being mistaken for a definition.

macro_rules! indices {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(u32);

        impl $name {
            /// Wraps a raw index.
            #[inline]
            pub const fn from_u32(i: u32) -> Self {
                $name(i)
            }

            /// The raw index.
            #[inline]
            pub const fn as_u32(self) -> u32 {
                self.0
            }

            /// The raw index, for indexing a `Vec`.
            #[inline]
            pub const fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    )*};
}

indices! {
    /// A function in the module's whole function index space (imports first).
    FuncIndex;
    /// A function defined (not imported) by the module.
    DefinedFuncIndex;
    /// A type in the type section.
    TypeIndex;
    /// A table in the whole table index space.
    TableIndex;
    /// A table defined by the module.
    DefinedTableIndex;
    /// A memory in the whole memory index space.
    MemoryIndex;
    /// A memory defined by the module.
    DefinedMemoryIndex;
    /// A global in the whole global index space.
    GlobalIndex;
    /// A global defined by the module.
    DefinedGlobalIndex;
    /// An element segment.
    ElemIndex;
    /// A data segment.
    DataIndex;
}
