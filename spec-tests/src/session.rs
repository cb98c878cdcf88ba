//! The per-file Kiln state (engine, store, linker, module instances) and how each directive
//! runs against it.

use std::collections::HashMap;

use kiln::{Config, Engine, ErrorKind, Instance, Linker, Module, Store, Val};
use wast::token::Id;
use wast::{QuoteWat, WastDirective, WastExecute, WastInvoke, WastRet, Wat};

use crate::error::{describe_kiln_error, fail, SpecError};
use crate::{spectest, traps, values, RunOptions};

/// How a directive that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Passed,
    Skipped,
}

/// All modules of one `.wast` file share one session, so that `register` works.
pub(crate) struct Session {
    engine: Engine,
    store: Store<()>,
    linker: Linker<()>,
    /// The most recently instantiated module: the target of unnamed `invoke`/`get`/`register`.
    current: Option<Instance>,
    /// Instances by their `$name`.
    named: HashMap<String, Instance>,
    /// Modules compiled by `(module definition ...)`, in order, with their `$name`.
    definitions: Vec<(Option<String>, Module)>,
    /// Whether every compiled module is serialized and deserialized before it is used
    /// ([`crate::RunOptions::round_trip`]).
    round_trip: bool,
    /// How many modules were used deserialized (in round-trip mode).
    pub(crate) round_trips: usize,
}

impl Session {
    /// A fresh engine, store and linker with the `spectest` module defined; with
    /// `wasm2_only`, an engine that refuses the Wasm 3.0 proposals.
    pub(crate) fn new(opts: &RunOptions, wasm2_only: bool) -> Result<Session, SpecError> {
        let mut config = Config::new();
        config
            .cpu_features(opts.cpu_features)
            .strategy(opts.strategy)
            .tier_up_policy(opts.tier_up)
            .wasm_extended_const(!wasm2_only)
            .wasm_relaxed_simd(!wasm2_only)
            .wasm_tail_call(!wasm2_only)
            .wasm_multi_memory(!wasm2_only)
            .wasm_memory64(!wasm2_only)
            .wasm_function_references(!wasm2_only)
            // The scripts compile tables larger than the JS-API's 10 million elements
            // (`module definition`), which Kiln's default module limits refuse at
            // compile time; instantiating one is still refused, by the table limit.
            .module_limits(kiln::ModuleLimits {
                table_size: u32::MAX,
                ..kiln::ModuleLimits::default()
            });
        if let Some(policy) = opts.guided {
            config.guided_policy(policy);
        }
        let engine = Engine::new(&config)
            .map_err(|e| SpecError::new(format!("cannot create engine: {e}")))?;
        let mut store = Store::new(&engine, ());
        let mut linker = Linker::new(&engine);
        spectest::define(&mut linker, &mut store)
            .map_err(|e| SpecError::new(format!("cannot define spectest: {e}")))?;
        Ok(Session {
            engine,
            store,
            linker,
            current: None,
            named: HashMap::new(),
            definitions: Vec::new(),
            round_trip: opts.round_trip,
            round_trips: 0,
        })
    }

    /// Runs one directive.
    pub(crate) fn run(&mut self, directive: WastDirective<'_>) -> Result<Status, SpecError> {
        match directive {
            WastDirective::Module(mut module) => self.module(&mut module),
            WastDirective::ModuleDefinition(mut module) => self.module_definition(&mut module),
            WastDirective::ModuleInstance {
                instance, module, ..
            } => self.module_instance(instance, module),
            WastDirective::Register { name, module, .. } => {
                let instance = self.instance(module)?;
                self.linker
                    .instance(&mut self.store, name, instance)
                    .map_err(|e| SpecError::new(format!("cannot register {name:?}: {e}")))?;
                Ok(Status::Passed)
            }
            WastDirective::Invoke(invoke) => match self.invoke(&invoke)? {
                Ok(_) => Ok(Status::Passed),
                Err(e) => fail!(
                    "invoke {:?} failed: {}",
                    invoke.name,
                    describe_kiln_error(&e)
                ),
            },
            WastDirective::AssertReturn { exec, results, .. } => self.assert_return(exec, &results),
            WastDirective::AssertTrap { exec, message, .. } => self.assert_trap(exec, message),
            WastDirective::AssertExhaustion { call, message, .. } => match self.invoke(&call)? {
                Ok(vals) => fail!(
                    "expected exhaustion ({message:?}), got {} results",
                    vals.len()
                ),
                Err(e) => traps::check_exhaustion(&e, message),
            },
            WastDirective::AssertInvalid {
                mut module,
                message,
                ..
            } => self.assert_compile_error(&mut module, "invalid", message),
            WastDirective::AssertMalformed {
                mut module,
                message,
                ..
            } => self.assert_compile_error(&mut module, "malformed", message),
            WastDirective::AssertUnlinkable {
                mut module,
                message,
                ..
            } => self.assert_unlinkable(&mut module, message),
            // Proposals Kiln does not implement: counted as skipped.
            WastDirective::AssertException { .. }
            | WastDirective::AssertSuspension { .. }
            | WastDirective::AssertInvalidCustom { .. }
            | WastDirective::AssertMalformedCustom { .. }
            | WastDirective::Thread(_)
            | WastDirective::Wait { .. } => Ok(Status::Skipped),
        }
    }

    /// `(module ...)`: compile and instantiate; the instance becomes the current one.
    fn module(&mut self, module: &mut QuoteWat<'_>) -> Result<Status, SpecError> {
        if is_component(module) {
            return Ok(Status::Skipped);
        }
        let name = module.name().map(|id| id.name().to_string());
        // A module that fails must not leave an older module as the target of later actions.
        self.current = None;
        if let Some(name) = &name {
            self.named.remove(name);
        }
        let compiled = self.compile(module)?;
        let instance = self
            .linker
            .instantiate(&mut self.store, &compiled)
            .map_err(|e| {
                SpecError::new(format!("cannot instantiate: {}", describe_kiln_error(&e)))
            })?;
        self.set_current(instance, name);
        Ok(Status::Passed)
    }

    /// `(module definition ...)`: compile only.
    fn module_definition(&mut self, module: &mut QuoteWat<'_>) -> Result<Status, SpecError> {
        if is_component(module) {
            return Ok(Status::Skipped);
        }
        let name = module.name().map(|id| id.name().to_string());
        let compiled = self.compile(module)?;
        self.definitions.push((name, compiled));
        Ok(Status::Passed)
    }

    /// `(module instance $i $m)`: instantiate a module definition.
    fn module_instance(
        &mut self,
        instance: Option<Id<'_>>,
        module: Option<Id<'_>>,
    ) -> Result<Status, SpecError> {
        let wanted = module.map(|id| id.name());
        let definition = self
            .definitions
            .iter()
            .rev()
            .find(|(name, _)| wanted.is_none() || name.as_deref() == wanted)
            .map(|(_, module)| module);
        let Some(definition) = definition else {
            return fail!("no module definition {wanted:?}");
        };
        self.current = None;
        let result = self.linker.instantiate(&mut self.store, definition);
        let instance_handle = result.map_err(|e| {
            SpecError::new(format!("cannot instantiate: {}", describe_kiln_error(&e)))
        })?;
        self.set_current(instance_handle, instance.map(|id| id.name().to_string()));
        Ok(Status::Passed)
    }

    fn set_current(&mut self, instance: Instance, name: Option<String>) {
        if let Some(name) = name {
            self.named.insert(name, instance);
        }
        self.current = Some(instance);
    }

    /// Encodes a module to binary (text parsing failures are errors here) and compiles it.
    fn compile(&mut self, module: &mut QuoteWat<'_>) -> Result<Module, SpecError> {
        let bytes = module
            .encode()
            .map_err(|e| SpecError::new(format!("cannot encode module: {}", e.message())))?;
        self.compile_binary(&bytes)
    }

    /// Compiles a binary module that is about to be used (instantiated or registered);
    /// in round-trip mode, returns it serialized and deserialized instead, so the checks
    /// run against deserialized code. A module that fails to compile fails as before.
    fn compile_binary(&mut self, bytes: &[u8]) -> Result<Module, SpecError> {
        let module = Module::from_binary(&self.engine, bytes)
            .map_err(|e| SpecError::new(format!("cannot compile: {}", describe_kiln_error(&e))))?;
        if !self.round_trip {
            return Ok(module);
        }
        let artifact = module.serialize().map_err(|e| {
            SpecError::new(format!(
                "round trip: cannot serialize: {}",
                describe_kiln_error(&e)
            ))
        })?;
        // Only the deserialized module may be used from here on.
        drop(module);
        let module = Module::deserialize(&self.engine, &artifact).map_err(|e| {
            SpecError::new(format!(
                "round trip: cannot deserialize: {}",
                describe_kiln_error(&e)
            ))
        })?;
        self.round_trips += 1;
        Ok(module)
    }

    /// The instance named `id`, or the current one.
    fn instance(&self, id: Option<Id<'_>>) -> Result<Instance, SpecError> {
        match id {
            Some(id) => match self.named.get(id.name()) {
                Some(instance) => Ok(*instance),
                None => fail!("no module instance named ${}", id.name()),
            },
            None => match &self.current {
                Some(instance) => Ok(*instance),
                None => fail!("no current module instance"),
            },
        }
    }

    /// Calls an exported function. The outer error is a harness problem (unknown export, bad
    /// argument); the inner result is what Kiln returned.
    fn invoke(
        &mut self,
        invoke: &WastInvoke<'_>,
    ) -> Result<Result<Vec<Val>, kiln::Error>, SpecError> {
        let instance = self.instance(invoke.module)?;
        let Some(func) = instance.get_func(&mut self.store, invoke.name) else {
            return fail!("no exported function {:?}", invoke.name);
        };
        let mut args = Vec::with_capacity(invoke.args.len());
        for arg in &invoke.args {
            args.push(values::to_val(arg, &mut self.store)?);
        }
        let ty = func.ty(&self.store);
        let mut results: Vec<Val> = ty.results().iter().map(values::default_val).collect();
        Ok(func
            .call(&mut self.store, &args, &mut results)
            .map(|()| results))
    }

    /// Reads an exported global.
    fn get(&mut self, module: Option<Id<'_>>, name: &str) -> Result<Val, SpecError> {
        let instance = self.instance(module)?;
        match instance.get_global(&mut self.store, name) {
            Some(global) => Ok(global.get(&mut self.store)),
            None => fail!("no exported global {name:?}"),
        }
    }

    fn assert_return(
        &mut self,
        exec: WastExecute<'_>,
        expected: &[WastRet<'_>],
    ) -> Result<Status, SpecError> {
        let actual = match exec {
            WastExecute::Invoke(invoke) => match self.invoke(&invoke)? {
                Ok(vals) => vals,
                Err(e) => return fail!("expected results, got {}", describe_kiln_error(&e)),
            },
            WastExecute::Get { module, global, .. } => vec![self.get(module, global)?],
            WastExecute::Wat(wat) => {
                let mut module = QuoteWat::Wat(wat);
                if is_component(&module) {
                    return Ok(Status::Skipped);
                }
                let compiled = self.compile(&mut module)?;
                self.linker
                    .instantiate(&mut self.store, &compiled)
                    .map_err(|e| {
                        SpecError::new(format!("cannot instantiate: {}", describe_kiln_error(&e)))
                    })?;
                Vec::new()
            }
        };
        values::check_results(expected, &actual, &self.store)?;
        Ok(Status::Passed)
    }

    fn assert_trap(&mut self, exec: WastExecute<'_>, message: &str) -> Result<Status, SpecError> {
        match exec {
            WastExecute::Invoke(invoke) => match self.invoke(&invoke)? {
                Ok(vals) => fail!(
                    "expected trap ({message:?}), got results [{}]",
                    vals.iter()
                        .map(|v| values::fmt_val(v, &self.store))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Err(e) => traps::check_trap(&e, message).map(|()| Status::Passed),
            },
            WastExecute::Wat(wat) => {
                let mut module = QuoteWat::Wat(wat);
                if is_component(&module) {
                    return Ok(Status::Skipped);
                }
                let compiled = self.compile(&mut module)?;
                match self.linker.instantiate(&mut self.store, &compiled) {
                    Ok(_) => {
                        fail!("expected instantiation to trap ({message:?}), but it succeeded")
                    }
                    Err(e) => traps::check_trap(&e, message).map(|()| Status::Passed),
                }
            }
            WastExecute::Get { global, .. } => {
                fail!("assert_trap on `get {global:?}` cannot trap")
            }
        }
    }

    /// `assert_invalid` / `assert_malformed`: the module must fail to parse, encode or
    /// compile. Kiln's error messages are not compared with the spec's.
    ///
    /// Kiln's frontend reports a module that uses a post-2.0 proposal (multi-memory,
    /// memory64, GC, ...) as `Unsupported` rather than `Module`. For the wasm-2.0 suite
    /// those modules are malformed or invalid, and rejecting them is the required behaviour,
    /// so both kinds pass. Any other kind (e.g. `Compile`: the validator let the module
    /// through) fails.
    fn assert_compile_error(
        &mut self,
        module: &mut QuoteWat<'_>,
        what: &str,
        message: &str,
    ) -> Result<Status, SpecError> {
        if is_component(module) {
            return Ok(Status::Skipped);
        }
        let bytes = match module.encode() {
            Ok(bytes) => bytes,
            // The text (or binary) format itself is rejected: that is a pass.
            Err(_) => return Ok(Status::Passed),
        };
        match Module::from_binary(&self.engine, &bytes) {
            Ok(_) => fail!("expected {what} module ({message:?}), but it compiled"),
            // Kiln names the proposal a module would need (multi-memory, memory64, GC...)
            // with `Unsupported`; under Kiln's Wasm 2.0 feature set such a module is
            // invalid or malformed all the same, and it is rejected at compile time.
            Err(e) if matches!(e.kind(), ErrorKind::Module(_) | ErrorKind::Unsupported(_)) => {
                Ok(Status::Passed)
            }
            Err(e) => fail!(
                "expected {what} module ({message:?}), got {}",
                describe_kiln_error(&e)
            ),
        }
    }

    fn assert_unlinkable(
        &mut self,
        module: &mut Wat<'_>,
        message: &str,
    ) -> Result<Status, SpecError> {
        if matches!(module, Wat::Component(_)) {
            return Ok(Status::Skipped);
        }
        let bytes = module
            .encode()
            .map_err(|e| SpecError::new(format!("cannot encode module: {}", e.message())))?;
        let compiled = self.compile_binary(&bytes)?;
        match self.linker.instantiate(&mut self.store, &compiled) {
            Ok(_) => fail!("expected link error ({message:?}), but instantiation succeeded"),
            Err(e) if matches!(e.kind(), ErrorKind::Link(_)) => Ok(Status::Passed),
            Err(e) => fail!(
                "expected link error ({message:?}), got {}",
                describe_kiln_error(&e)
            ),
        }
    }
}

fn is_component(module: &QuoteWat<'_>) -> bool {
    matches!(
        module,
        QuoteWat::Wat(Wat::Component(_)) | QuoteWat::QuoteComponent(..)
    )
}
