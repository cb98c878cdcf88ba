//! `Linker`: resolves a module's imports by name.

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::externals::Extern;
use crate::func::{Caller, Func};
use crate::inline::InlineFunc;
use crate::inlined::ImportInlines;
use crate::instance::Instance;
use crate::module::{ExternType, Module};
use crate::store::{AsContext, AsContextMut, StoreInner};
use crate::typed::IntoFunc;
use crate::types::FuncType;
use crate::values::Val;
use std::collections::HashMap;
use std::sync::Arc;

/// A host function defined in a linker, created in a store on instantiation.
type HostFuncMaker<T> = Arc<dyn Fn(&mut StoreInner<T>) -> Result<Func> + Send + Sync>;

enum Definition<T> {
    Extern(Extern),
    HostFunc(HostFuncMaker<T>),
}

impl<T> Clone for Definition<T> {
    fn clone(&self) -> Self {
        match self {
            Definition::Extern(e) => Definition::Extern(*e),
            Definition::HostFunc(f) => Definition::HostFunc(f.clone()),
        }
    }
}

/// Names for imports: `(module, name)` → a definition.
pub struct Linker<T> {
    engine: Engine,
    map: HashMap<(String, String), Definition<T>>,
    /// The inline host functions among the definitions (`func_inline`).
    inlines: ImportInlines,
    /// Whether a definition may replace an earlier one of the same name.
    shadowing: bool,
}

impl<T> std::fmt::Debug for Linker<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Linker")
            .field("definitions", &self.map.len())
            .finish()
    }
}

impl<T> Clone for Linker<T> {
    fn clone(&self) -> Self {
        Linker {
            engine: self.engine.clone(),
            map: self.map.clone(),
            inlines: self.inlines.clone(),
            shadowing: self.shadowing,
        }
    }
}

impl<T: 'static> Linker<T> {
    /// An empty linker.
    pub fn new(engine: &Engine) -> Self {
        Linker {
            engine: engine.clone(),
            map: HashMap::new(),
            inlines: ImportInlines::default(),
            shadowing: false,
        }
    }

    /// Lets a later definition replace an earlier one of the same name (off by
    /// default: defining a name twice is an error). A replaced inline host function is
    /// no longer inlined.
    pub fn allow_shadowing(&mut self, on: bool) -> &mut Self {
        self.shadowing = on;
        self
    }

    fn insert(&mut self, module: &str, name: &str, d: Definition<T>) -> Result<&mut Self> {
        let key = (module.to_string(), name.to_string());
        if self.map.contains_key(&key) {
            if !self.shadowing {
                return Err(Error::link(format!(
                    "`{module}::{name}` is already defined"
                )));
            }
            self.inlines.by_name.remove(&key);
        }
        self.map.insert(key, d);
        Ok(self)
    }

    /// Defines `module::name` as `item` (which belongs to `store`).
    pub fn define(
        &mut self,
        store: impl AsContext<Data = T>,
        module: &str,
        name: &str,
        item: impl Into<Extern>,
    ) -> Result<&mut Self> {
        let item = item.into();
        store.as_context().opaque.check(item.store_id())?;
        self.insert(module, name, Definition::Extern(item))
    }

    /// Defines `module::name` as a host function of type `ty` taking `Val`s.
    pub fn func_new(
        &mut self,
        module: &str,
        name: &str,
        ty: FuncType,
        f: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<()> + Send + Sync + 'static,
    ) -> Result<&mut Self> {
        let f = Arc::new(f);
        let make: HostFuncMaker<T> = Arc::new(move |store: &mut StoreInner<T>| {
            let f = f.clone();
            Ok(Func::new(store, ty.clone(), move |c, p, r| f(c, p, r)))
        });
        self.insert(module, name, Definition::HostFunc(make))
    }

    /// Defines `module::name` as a typed host closure (see `Func::wrap`).
    pub fn func_wrap<Params, Results>(
        &mut self,
        module: &str,
        name: &str,
        f: impl IntoFunc<T, Params, Results> + Clone,
    ) -> Result<&mut Self> {
        let make: HostFuncMaker<T> =
            Arc::new(move |store: &mut StoreInner<T>| Ok(f.clone().into_func(store)));
        self.insert(module, name, Definition::HostFunc(make))
    }

    /// Defines `module::name` as an inlinable host function: a module compiled by this
    /// linker ([`Linker::module`]) runs `body` in place of each `call` of the import,
    /// and `f` runs wherever the body is not inlined or hands the call over
    /// ([`InlineBuilder::fallback_if`](crate::InlineBuilder::fallback_if)). Both must
    /// have the same type and do the same thing. Fuel: each call costs the body's
    /// declared cost, inlined or not. A body that uses cells takes only stores that own
    /// them.
    pub fn func_inline<Params, Results>(
        &mut self,
        module: &str,
        name: &str,
        body: InlineFunc,
        f: impl IntoFunc<T, Params, Results> + Clone,
    ) -> Result<&mut Self> {
        let ty = f.func_type();
        if ty != body.0.ty {
            return Err(Error::ty(format!(
                "`{module}::{name}`: the body is a {} but the host function a {ty}",
                body.0.ty
            )));
        }
        let def = body.clone();
        let make: HostFuncMaker<T> =
            Arc::new(move |store: &mut StoreInner<T>| Func::inline(&mut *store, &def, f.clone()));
        self.insert(module, name, Definition::HostFunc(make))?;
        self.inlines
            .by_name
            .insert((module.to_string(), name.to_string()), body.import());
        Ok(self)
    }

    /// Compiles a module (binary or text) with the bodies of this linker's inline host
    /// functions ([`Linker::func_inline`]) inlined at calls to the imports whose name
    /// and type they match. Through the engine's code cache, under a key that includes
    /// the bodies. Such a module is instantiated only with the same bodies for those
    /// imports.
    pub fn module(&self, bytes: impl AsRef<[u8]>) -> Result<Module> {
        self.module_until(bytes, None)
    }

    /// [`Linker::module`], giving up once `deadline` passes, as [`Module::new_until`].
    pub fn module_until(
        &self,
        bytes: impl AsRef<[u8]>,
        deadline: Option<std::time::Instant>,
    ) -> Result<Module> {
        let binary = crate::source::to_binary(bytes.as_ref(), false)?;
        Module::compile(&self.engine, &binary, deadline, &self.inlines)
    }

    /// [`Linker::module`] from a file, as [`Module::from_file`] reads it; with a
    /// deadline for compiling, as [`Module::new_until`].
    pub fn module_from_file(
        &self,
        path: impl AsRef<std::path::Path>,
        deadline: Option<std::time::Instant>,
    ) -> Result<Module> {
        Module::file_until(&self.engine, path.as_ref(), deadline, &self.inlines)
    }

    /// Defines every function import of `module` that is not defined yet as a function
    /// returning zeroes (and nulls), like Wasmtime's `unknown-imports-default`. Other
    /// missing imports stay undefined, so instantiation names them.
    pub fn define_unknown_imports_as_default_values(
        &mut self,
        module: &Module,
    ) -> Result<&mut Self> {
        for (m, n, ty) in module.imports() {
            let key = (m.to_string(), n.to_string());
            if let (ExternType::Func(ty), false) = (ty, self.map.contains_key(&key)) {
                self.func_new(m, n, ty, |_, _, results| {
                    for r in results.iter_mut() {
                        *r = Val::default_for(r.ty());
                    }
                    Ok(())
                })?;
            }
        }
        Ok(self)
    }

    /// Whether `module::name` is defined.
    pub fn is_defined(&self, module: &str, name: &str) -> bool {
        self.map
            .contains_key(&(module.to_string(), name.to_string()))
    }

    /// Defines every export of `instance` under `module`.
    pub fn instance(
        &mut self,
        mut store: impl AsContextMut<Data = T>,
        module: &str,
        instance: Instance,
    ) -> Result<&mut Self> {
        for (name, ext) in instance.exports(&mut store) {
            self.define(&store, module, &name, ext)?;
        }
        Ok(self)
    }

    /// Looks up `module::name`, creating host functions in `store` (`None` also for an
    /// inline host function whose cells belong to another store).
    pub fn get(
        &self,
        mut store: impl AsContextMut<Data = T>,
        module: &str,
        name: &str,
    ) -> Option<Extern> {
        match self.map.get(&(module.to_string(), name.to_string()))? {
            Definition::Extern(e) => Some(*e),
            Definition::HostFunc(make) => make(store.as_context_mut()).ok().map(Extern::Func),
        }
    }

    /// Resolves `module`'s imports and instantiates it.
    pub fn instantiate(
        &self,
        store: impl AsContextMut<Data = T>,
        module: &Module,
    ) -> Result<Instance> {
        self.instantiate_pre(module)?.instantiate(store)
    }

    /// Resolves `module`'s imports once, for any number of instantiations (Wasmtime's
    /// `InstancePre`): a plugin host or a service links once per module and then only
    /// instantiates.
    pub fn instantiate_pre(&self, module: &Module) -> Result<InstancePre<T>> {
        let mut defs = Vec::new();
        for (m, n, ty) in module.imports() {
            let def = self
                .map
                .get(&(m.to_string(), n.to_string()))
                .ok_or_else(|| {
                    Error::link(format!(
                        "unknown import: `{m}::{n}` has not been defined ({})",
                        describe(&ty)
                    ))
                })?;
            defs.push(def.clone());
        }
        Ok(InstancePre {
            module: module.clone(),
            defs: defs.into(),
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// A module whose imports a [`Linker`] has resolved: instantiate it in any store of
/// the engine (host functions are created in each store; other definitions belong to
/// the store they came from). Cheap to clone.
pub struct InstancePre<T> {
    module: Module,
    defs: Arc<[Definition<T>]>,
}

impl<T> Clone for InstancePre<T> {
    fn clone(&self) -> Self {
        InstancePre {
            module: self.module.clone(),
            defs: self.defs.clone(),
        }
    }
}

impl<T> std::fmt::Debug for InstancePre<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstancePre")
            .field("module", &self.module)
            .field("imports", &self.defs.len())
            .finish()
    }
}

impl<T: 'static> InstancePre<T> {
    /// Instantiates the module in `store`.
    pub fn instantiate(&self, mut store: impl AsContextMut<Data = T>) -> Result<Instance> {
        let mut imports = Vec::with_capacity(self.defs.len());
        for def in self.defs.iter() {
            imports.push(match def {
                Definition::Extern(e) => *e,
                Definition::HostFunc(make) => Extern::Func(make(store.as_context_mut())?),
            });
        }
        Instance::new(store, &self.module, &imports)
    }

    /// The module.
    pub fn module(&self) -> &Module {
        &self.module
    }
}

fn describe(ty: &ExternType) -> String {
    match ty {
        ExternType::Func(f) => format!("func {f}"),
        ExternType::Table(_) => "table".into(),
        ExternType::Memory(_) => "memory".into(),
        ExternType::Global(_) => "global".into(),
    }
}
