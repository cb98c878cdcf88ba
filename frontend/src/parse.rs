//! Bytes → [`ModuleInfo`]: validate with wasmparser, then collect the sections.

use crate::error::{Error, ErrorKind};
use crate::features::Features;
use crate::index::*;
use crate::limits::Limits;
use crate::module::*;
use crate::names::Names;
use crate::types::*;
use std::sync::Arc;
use wasmparser::{Operator, Parser, Payload, TypeRef, Validator};

/// Validates `bytes` under `features` and describes the module, within the default
/// (JS-API) [`Limits`].
pub fn parse(bytes: &[u8], features: Features) -> Result<ModuleInfo, Error> {
    parse_with_limits(bytes, features, &Limits::default())
}

/// Validates `bytes` under `features` and describes the module, refusing one that
/// declares more than `limits` allow.
pub fn parse_with_limits(
    bytes: &[u8],
    features: Features,
    limits: &Limits,
) -> Result<ModuleInfo, Error> {
    let mut validator = Validator::new_with_features(features.wasmparser());
    if let Err(e) = validator.validate_all(bytes) {
        let offset = e.offset() as usize;
        return Err(match features.name_missing_proposal(bytes) {
            Some(proposal) => Error::new(ErrorKind::Unsupported { proposal }, offset),
            None => e.into(),
        });
    }
    let mut info = ModuleInfo {
        bytes: Arc::from(bytes),
        ..ModuleInfo::default()
    };
    for payload in Parser::new(0).parse_all(bytes) {
        section(&mut info, payload?)?;
    }
    limits.check(&info)?;
    Ok(info)
}

fn section(info: &mut ModuleInfo, payload: Payload<'_>) -> Result<(), Error> {
    match payload {
        Payload::TypeSection(s) => {
            for ty in s.into_iter_err_on_gc_types() {
                let ty = ty?;
                info.types.push(FuncType::new(
                    ty.params().iter().map(|&t| t.into()),
                    ty.results().iter().map(|&t| t.into()),
                ));
            }
        }
        Payload::ImportSection(s) => {
            for group in s {
                for import in group? {
                    let (_, import) = import?;
                    let index = match import.ty {
                        TypeRef::Func(t) | TypeRef::FuncExact(t) => {
                            info.funcs.push(TypeIndex::from_u32(t));
                            info.num_imported_funcs += 1;
                            EntityIndex::Func(FuncIndex::from_u32(info.funcs.len() as u32 - 1))
                        }
                        TypeRef::Table(t) => {
                            info.tables.push(table_type(t));
                            info.num_imported_tables += 1;
                            EntityIndex::Table(TableIndex::from_u32(info.tables.len() as u32 - 1))
                        }
                        TypeRef::Memory(m) => {
                            info.memories.push(memory_type(m));
                            info.num_imported_memories += 1;
                            EntityIndex::Memory(MemoryIndex::from_u32(
                                info.memories.len() as u32 - 1,
                            ))
                        }
                        TypeRef::Global(g) => {
                            info.globals.push(global_type(g));
                            info.num_imported_globals += 1;
                            EntityIndex::Global(GlobalIndex::from_u32(
                                info.globals.len() as u32 - 1,
                            ))
                        }
                        TypeRef::Tag(_) => {
                            return Err(unsupported("exception handling", 0));
                        }
                    };
                    info.imports.push(Import {
                        module: import.module.to_string(),
                        name: import.name.to_string(),
                        index,
                    });
                }
            }
        }
        Payload::FunctionSection(s) => {
            for t in s {
                info.funcs.push(TypeIndex::from_u32(t?));
            }
        }
        Payload::TableSection(s) => {
            for t in s {
                let t = t?;
                let ty = table_type(t.ty);
                info.table_inits.push(match t.init {
                    wasmparser::TableInit::RefNull => ConstExpr::RefNull(ty.element),
                    wasmparser::TableInit::Expr(e) => const_expr(&e)?,
                });
                info.tables.push(ty);
            }
        }
        Payload::MemorySection(s) => {
            for m in s {
                info.memories.push(memory_type(m?));
            }
        }
        Payload::GlobalSection(s) => {
            for g in s {
                let g = g?;
                info.globals.push(global_type(g.ty));
                info.global_inits.push(const_expr(&g.init_expr)?);
            }
        }
        Payload::ExportSection(s) => {
            for e in s {
                let e = e?;
                let index = match e.kind {
                    wasmparser::ExternalKind::Func | wasmparser::ExternalKind::FuncExact => {
                        EntityIndex::Func(FuncIndex::from_u32(e.index))
                    }
                    wasmparser::ExternalKind::Table => {
                        EntityIndex::Table(TableIndex::from_u32(e.index))
                    }
                    wasmparser::ExternalKind::Memory => {
                        EntityIndex::Memory(MemoryIndex::from_u32(e.index))
                    }
                    wasmparser::ExternalKind::Global => {
                        EntityIndex::Global(GlobalIndex::from_u32(e.index))
                    }
                    wasmparser::ExternalKind::Tag => {
                        return Err(unsupported("exception handling", 0));
                    }
                };
                info.exports.push(Export {
                    name: e.name.to_string(),
                    index,
                });
            }
        }
        Payload::StartSection { func, .. } => info.start = Some(FuncIndex::from_u32(func)),
        Payload::ElementSection(s) => {
            for e in s {
                let e = e?;
                let kind = match e.kind {
                    wasmparser::ElementKind::Passive => ElemSegmentKind::Passive,
                    wasmparser::ElementKind::Declared => ElemSegmentKind::Declared,
                    wasmparser::ElementKind::Active {
                        table_index,
                        offset_expr,
                    } => ElemSegmentKind::Active {
                        table: TableIndex::from_u32(table_index.unwrap_or(0)),
                        offset: const_expr(&offset_expr)?,
                    },
                };
                let items = match e.items {
                    wasmparser::ElementItems::Functions(fs) => ElemItems::Functions(
                        fs.into_iter()
                            .map(|f| f.map(FuncIndex::from_u32))
                            .collect::<Result<_, _>>()?,
                    ),
                    wasmparser::ElementItems::Expressions(ty, es) => ElemItems::Expressions(
                        ty.into(),
                        es.into_iter()
                            .map(|e| const_expr(&e?))
                            .collect::<Result<_, _>>()?,
                    ),
                };
                info.elems.push(ElemSegment { kind, items });
            }
        }
        Payload::DataSection(s) => {
            for d in s {
                let d = d?;
                let kind = match d.kind {
                    wasmparser::DataKind::Passive => DataSegmentKind::Passive,
                    wasmparser::DataKind::Active {
                        memory_index,
                        offset_expr,
                    } => DataSegmentKind::Active {
                        memory: MemoryIndex::from_u32(memory_index),
                        offset: const_expr(&offset_expr)?,
                    },
                };
                let end = d.range.end as usize;
                info.datas.push(DataSegment {
                    kind,
                    data: end - d.data.len()..end,
                });
            }
        }
        Payload::CodeSectionEntry(body) => {
            info.bodies.push(FunctionBody {
                range: body.range().start as usize..body.range().end as usize,
            });
        }
        Payload::CustomSection(c) => {
            if let wasmparser::KnownCustom::Name(names) = c.as_known() {
                // A malformed name section does not make the module invalid: keep what parses.
                info.names = Arc::new(read_names(names));
            }
        }
        Payload::TagSection(_) => return Err(unsupported("exception handling", 0)),
        _ => {}
    }
    Ok(())
}

fn unsupported(proposal: &'static str, offset: usize) -> Error {
    Error::new(ErrorKind::Unsupported { proposal }, offset)
}

fn read_names(reader: wasmparser::NameSectionReader<'_>) -> Names {
    let mut module = None;
    let mut funcs = Vec::new();
    for name in reader.into_iter().map_while(Result::ok) {
        match name {
            wasmparser::Name::Module { name, .. } => module = Some(name.to_string()),
            wasmparser::Name::Function(map) => {
                for naming in map.into_iter().map_while(Result::ok) {
                    funcs.push((FuncIndex::from_u32(naming.index), naming.name));
                }
            }
            _ => {}
        }
    }
    Names::new(module, funcs)
}

fn table_type(t: wasmparser::TableType) -> TableType {
    TableType {
        element: t.element_type.into(),
        minimum: t.initial,
        maximum: t.maximum,
        table64: t.table64,
    }
}

fn memory_type(m: wasmparser::MemoryType) -> MemoryType {
    MemoryType {
        minimum: m.initial,
        maximum: m.maximum,
        memory64: m.memory64,
    }
}

fn global_type(g: wasmparser::GlobalType) -> GlobalType {
    GlobalType {
        content: g.content_type.into(),
        mutable: g.mutable,
    }
}

fn const_expr(e: &wasmparser::ConstExpr<'_>) -> Result<ConstExpr, Error> {
    let mut reader = e.get_operators_reader();
    let offset = reader.original_position();
    let first = match reader.read()? {
        Operator::I32Const { value } => ConstExpr::I32(value),
        Operator::I64Const { value } => ConstExpr::I64(value),
        Operator::F32Const { value } => ConstExpr::F32(value.bits()),
        Operator::F64Const { value } => ConstExpr::F64(value.bits()),
        Operator::V128Const { value } => ConstExpr::V128(value.i128() as u128),
        Operator::RefNull { hty } => ConstExpr::RefNull(RefType {
            nullable: true,
            heap: hty.into(),
        }),
        Operator::RefFunc { function_index } => {
            ConstExpr::RefFunc(FuncIndex::from_u32(function_index))
        }
        Operator::GlobalGet { global_index } => {
            ConstExpr::GlobalGet(GlobalIndex::from_u32(global_index))
        }
        _ => return Err(unsupported("garbage collection (GC)", offset as usize)),
    };
    if let Operator::End = reader.read()? {
        return Ok(first);
    }
    extended_const(e)
}

/// An extended constant expression (more than one instruction): integer arithmetic
/// over constants and globals, folded to a constant when it reads no global.
fn extended_const(e: &wasmparser::ConstExpr<'_>) -> Result<ConstExpr, Error> {
    let mut reader = e.get_operators_reader();
    let mut ops = Vec::new();
    loop {
        let offset = reader.original_position();
        ops.push(match reader.read()? {
            Operator::End => break,
            Operator::I32Const { value } => ConstOp::I32(value),
            Operator::I64Const { value } => ConstOp::I64(value),
            Operator::GlobalGet { global_index } => {
                ConstOp::GlobalGet(GlobalIndex::from_u32(global_index))
            }
            Operator::I32Add => ConstOp::I32Add,
            Operator::I32Sub => ConstOp::I32Sub,
            Operator::I32Mul => ConstOp::I32Mul,
            Operator::I64Add => ConstOp::I64Add,
            Operator::I64Sub => ConstOp::I64Sub,
            Operator::I64Mul => ConstOp::I64Mul,
            _ => return Err(unsupported("garbage collection (GC)", offset as usize)),
        });
    }
    if ops.iter().any(|op| matches!(op, ConstOp::GlobalGet(_))) {
        return Ok(ConstExpr::Extended(ops.into()));
    }
    // Validation gave the expression one type, and arithmetic never mixes the two.
    let wide = ops.iter().any(|op| {
        matches!(
            op,
            ConstOp::I64(_) | ConstOp::I64Add | ConstOp::I64Sub | ConstOp::I64Mul
        )
    });
    let value = ConstOp::eval(&ops, |_| 0);
    Ok(if wide {
        ConstExpr::I64(value as i64)
    } else {
        ConstExpr::I32(value as u32 as i32)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wat(src: &str) -> Vec<u8> {
        wat::parse_str(src).expect("test module is valid text")
    }

    #[test]
    fn index_spaces_put_imports_first() {
        let bytes = wat(r#"(module
            (import "env" "f" (func (param i32)))
            (import "env" "g" (global i32))
            (func $two (result i32) i32.const 2)
            (global (mut i64) (i64.const 7))
            (export "two" (func $two)))"#);
        let info = parse(&bytes, Features::default()).expect("valid");
        assert_eq!(info.num_imported_funcs, 1);
        assert_eq!(info.funcs.len(), 2);
        assert_eq!(
            info.defined_func_index(FuncIndex::from_u32(1)),
            Some(DefinedFuncIndex::from_u32(0))
        );
        assert_eq!(info.defined_func_index(FuncIndex::from_u32(0)), None);
        assert_eq!(info.global_inits, vec![ConstExpr::I64(7)]);
        assert_eq!(info.func_name(FuncIndex::from_u32(1)), Some("two"));
        assert_eq!(
            info.exports[0].index,
            EntityIndex::Func(FuncIndex::from_u32(1))
        );
    }

    #[test]
    fn other_proposals_are_named() {
        let cases = [
            ("(module (memory 1 1 shared))", "threads"),
            ("(module (tag))", "exception handling"),
        ];
        for (src, proposal) in cases {
            let err = parse(&wat(src), Features::default()).expect_err(src);
            assert_eq!(err.kind(), &ErrorKind::Unsupported { proposal }, "{src}");
            assert!(err.to_string().contains(proposal));
        }
    }

    #[test]
    fn wasm3_proposals_can_be_switched_off() {
        let cases = [
            (
                "(module (global i32 (i32.add (i32.const 1) (i32.const 2))))",
                Features {
                    extended_const: false,
                    ..Features::default()
                },
                "extended constant expressions",
            ),
            (
                "(module (func (drop (f32x4.relaxed_min (v128.const i64x2 0 0) (v128.const i64x2 0 0)))))",
                Features {
                    relaxed_simd: false,
                    ..Features::default()
                },
                "relaxed SIMD",
            ),
            (
                "(module (func (return_call 0)))",
                Features {
                    tail_call: false,
                    ..Features::default()
                },
                "tail calls",
            ),
            (
                "(module (memory 1) (memory 1))",
                Features {
                    multi_memory: false,
                    ..Features::default()
                },
                "multi-memory",
            ),
            (
                "(module (table i64 1 funcref))",
                Features {
                    memory64: false,
                    ..Features::default()
                },
                "memory64",
            ),
            (
                "(module (type $t (func)) (func (param (ref $t))))",
                Features {
                    function_references: false,
                    ..Features::default()
                },
                "typed function references",
            ),
        ];
        for (src, off, proposal) in cases {
            assert!(parse(&wat(src), Features::default()).is_ok(), "{src}");
            let err = parse(&wat(src), off).expect_err(src);
            assert_eq!(err.kind(), &ErrorKind::Unsupported { proposal }, "{src}");
        }
    }

    #[test]
    fn extended_constants_fold_unless_they_read_a_global() {
        let info = parse(
            &wat(r#"(module
              (import "m" "g" (global $g i64))
              (global i32 (i32.sub (i32.const 1) (i32.mul (i32.const 2) (i32.const 3))))
              (global i64 (i64.add (i64.const -1) (i64.const 0x100000000)))
              (global i64 (i64.mul (global.get $g) (i64.const 2))))"#),
            Features::default(),
        )
        .expect("valid");
        assert_eq!(info.global_inits[0], ConstExpr::I32(-5));
        assert_eq!(info.global_inits[1], ConstExpr::I64(0xffff_ffff));
        let ConstExpr::Extended(ops) = &info.global_inits[2] else {
            panic!("{:?}", info.global_inits[2]);
        };
        assert_eq!(ConstOp::eval(ops, |_| 21), 42);
    }

    #[test]
    fn simd_can_be_switched_off() {
        let bytes = wat("(module (func (drop (v128.const i64x2 0 0))))");
        assert!(parse(&bytes, Features::default()).is_ok());
        let err = parse(
            &bytes,
            Features {
                simd: false,
                ..Features::default()
            },
        )
        .expect_err("refused");
        assert_eq!(
            err.kind(),
            &ErrorKind::Unsupported {
                proposal: "fixed-width SIMD"
            }
        );
    }

    #[test]
    fn invalid_modules_are_errors_with_offsets() {
        let err = parse(b"\0asm\x01\0\0\0\x01", Features::default()).expect_err("truncated");
        assert!(matches!(err.kind(), ErrorKind::Invalid(_)));
        assert!(err.offset() > 0);
        let bad = wat("(module (func (result i32) i64.const 1))");
        assert!(matches!(
            parse(&bad, Features::default())
                .map(|_| ())
                .unwrap_err()
                .kind(),
            ErrorKind::Invalid(_)
        ));
    }
}
