//! Functions whose answer depends on the session: `version()`,
//! `current_user`, `current_database()`, `current_setting()` and friends.
//! They are stable within a statement, so DataFusion folds them to constants
//! while planning and they never need to exist on the executors. The catalog
//! functions here (`pg_type_is_visible`, `pg_cancel_backend`, ...) take
//! column values; they serve catalog queries and constant statements, which
//! run in the server.

use std::sync::{Arc, RwLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, StringArray};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility, create_udf,
};

use super::settings::{Settings, version_string};

fn constant(name: &str, value: String) -> ScalarUDF {
    create_udf(
        name,
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_| {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                value.clone(),
            ))))
        }),
    )
}

/// The session functions for a session of `user` connected to `database`.
pub fn session_functions(
    user: &str,
    database: &str,
    pid: i32,
    settings: Arc<RwLock<Settings>>,
    activity: Arc<super::activity::ActivityRegistry>,
) -> Vec<ScalarUDF> {
    let mut functions = vec![
        constant("version", version_string()),
        constant("current_user", user.to_owned()),
        constant("session_user", user.to_owned()),
        constant("user", user.to_owned()),
        constant("current_role", user.to_owned()),
        constant("current_database", database.to_owned()),
        constant("current_catalog", database.to_owned()),
        create_udf(
            "pg_backend_pid",
            vec![],
            DataType::Int32,
            Volatility::Stable,
            Arc::new(move |_| Ok(ColumnarValue::Scalar(ScalarValue::Int32(Some(pid))))),
        ),
        // Connection pools (asyncpg's) release advisory locks on reset;
        // Strata takes none, so there is nothing to release.
        create_udf(
            "pg_advisory_unlock_all",
            vec![],
            DataType::Null,
            Volatility::Stable,
            Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Null))),
        ),
    ];

    let path = Arc::clone(&settings);
    functions.push(create_udf(
        "current_schema",
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_| {
            let schema = read(&path).search_path().into_iter().next();
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(schema)))
        }),
    ));

    let path = Arc::clone(&settings);
    functions.push(create_udf(
        "current_schemas",
        vec![DataType::Boolean],
        DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        Volatility::Stable,
        Arc::new(move |args| {
            let include_implicit = matches!(
                args.first(),
                Some(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))
            );
            let mut schemas: Vec<ScalarValue> = Vec::new();
            if include_implicit {
                schemas.push(ScalarValue::Utf8(Some("pg_catalog".to_owned())));
            }
            schemas.extend(
                read(&path)
                    .search_path()
                    .into_iter()
                    .map(|s| ScalarValue::Utf8(Some(s))),
            );
            Ok(ColumnarValue::Scalar(ScalarValue::List(
                ScalarValue::new_list(&schemas, &DataType::Utf8, true),
            )))
        }),
    ));

    // set_config(name, value, is_local): what drivers (asyncpg) call to
    // change a setting from SQL. It is volatile, so it runs where it stands;
    // a statement calling it reads no tables and stays in the server.
    let target = Arc::clone(&settings);
    functions.push(create_udf(
        "set_config",
        vec![DataType::Utf8, DataType::Utf8, DataType::Boolean],
        DataType::Utf8,
        Volatility::Volatile,
        Arc::new(move |args| {
            let text = |i: usize| match args.get(i) {
                Some(ColumnarValue::Scalar(ScalarValue::Utf8(Some(v)))) => Some(v.clone()),
                _ => None,
            };
            let (Some(name), Some(value)) = (text(0), text(1)) else {
                return exec_err!("set_config takes a setting name and a value");
            };
            let mut settings = target.write().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = settings.set(&name, &value) {
                return exec_err!("{e}");
            }
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(
                settings.get(&name),
            )))
        }),
    ));
    // Catalog functions clients' metadata queries call (SQLAlchemy's
    // reflection). pg_type_is_visible(oid): every type Strata lists is in pg_catalog,
    // which every search path holds. pg_get_indexdef(index [, column,
    // pretty]): NULL, as Strata's tables have no indexes.
    functions.push(ScalarUDF::new_from_impl(CatalogFunction {
        name: "pg_type_is_visible",
        signature: Signature::uniform(
            1,
            vec![DataType::Int32, DataType::Int64, DataType::UInt32],
            Volatility::Stable,
        ),
        returns: DataType::Boolean,
        answer: Arc::new(|args| {
            let oids = ColumnarValue::values_to_arrays(args)?;
            let visible: BooleanArray = (0..oids[0].len())
                .map(|i| oids[0].is_valid(i).then_some(true))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(visible)))
        }),
    }));
    functions.push(ScalarUDF::new_from_impl(CatalogFunction {
        name: "pg_get_indexdef",
        signature: Signature::one_of(
            vec![TypeSignature::Any(1), TypeSignature::Any(3)],
            Volatility::Stable,
        ),
        returns: DataType::Utf8,
        answer: Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))),
    }));
    // pg_cancel_backend(pid): cancels that session's running statement;
    // false when no session has that pid. Volatile, so it runs when the
    // statement runs, never while planning.
    functions.push(ScalarUDF::new_from_impl(CatalogFunction {
        name: "pg_cancel_backend",
        signature: Signature::uniform(
            1,
            vec![DataType::Int32, DataType::Int64],
            Volatility::Volatile,
        ),
        returns: DataType::Boolean,
        answer: Arc::new(move |args| {
            let pids = ColumnarValue::values_to_arrays(args)?;
            let pids = datafusion::arrow::compute::cast(&pids[0], &DataType::Int64)?;
            let done: BooleanArray = pids
                .as_primitive::<Int64Type>()
                .iter()
                .map(|pid| pid.map(|pid| i32::try_from(pid).is_ok_and(|pid| activity.cancel(pid))))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(done)))
        }),
    }));
    functions.push(ScalarUDF::new_from_impl(CurrentSetting {
        settings,
        signature: Signature::one_of(
            vec![
                TypeSignature::Exact(vec![DataType::Utf8]),
                TypeSignature::Exact(vec![DataType::Utf8, DataType::Boolean]),
            ],
            Volatility::Stable,
        ),
    }));
    functions
}

fn read(settings: &RwLock<Settings>) -> std::sync::RwLockReadGuard<'_, Settings> {
    settings
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `current_setting(name [, missing_ok])`.
#[derive(Debug)]
struct CurrentSetting {
    settings: Arc<RwLock<Settings>>,
    signature: Signature,
}

impl PartialEq for CurrentSetting {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.settings, &other.settings)
    }
}

impl Eq for CurrentSetting {}

impl std::hash::Hash for CurrentSetting {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.settings).hash(state);
    }
}

impl ScalarUDFImpl for CurrentSetting {
    fn name(&self) -> &str {
        "current_setting"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        let missing_ok = matches!(
            args.args.get(1),
            Some(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))
        );
        let settings = read(&self.settings);
        let lookup = |name: &str| -> datafusion::error::Result<Option<String>> {
            match settings.get(name) {
                Some(v) => Ok(Some(v)),
                None if missing_ok => Ok(None),
                None => exec_err!("unrecognized configuration parameter \"{name}\""),
            }
        };
        match args.args.first() {
            Some(ColumnarValue::Scalar(ScalarValue::Utf8(Some(name)))) => {
                Ok(ColumnarValue::Scalar(ScalarValue::Utf8(lookup(name)?)))
            }
            Some(ColumnarValue::Array(names)) => {
                let Some(names) = names.as_any().downcast_ref::<StringArray>() else {
                    return exec_err!("current_setting expects text");
                };
                let values = names
                    .iter()
                    .map(|n| n.map(lookup).transpose().map(Option::flatten))
                    .collect::<datafusion::error::Result<StringArray>>()?;
                Ok(ColumnarValue::Array(Arc::new(values) as ArrayRef))
            }
            _ => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None))),
        }
    }
}

/// How a catalog function answers, from its arguments.
type Answer =
    Arc<dyn Fn(&[ColumnarValue]) -> datafusion::error::Result<ColumnarValue> + Send + Sync>;

/// A catalog function: a name, a signature and how it answers.
struct CatalogFunction {
    name: &'static str,
    signature: Signature,
    returns: DataType,
    answer: Answer,
}

impl std::fmt::Debug for CatalogFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogFunction")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

// One function per name: the name is the identity.
impl PartialEq for CatalogFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for CatalogFunction {}

impl std::hash::Hash for CatalogFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for CatalogFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(self.returns.clone())
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        (self.answer)(&args.args)
    }
}
