//! Functions whose answer depends on the session: `version()`,
//! `current_user`, `current_database()`, `current_setting()` and friends.
//! They are stable within a statement, so DataFusion folds them to constants
//! while planning and they never need to exist on the executors. The catalog
//! functions here (`pg_type_is_visible`, `pg_cancel_backend`, ...) take
//! column values; they serve catalog queries and constant statements, which
//! run in the server.

use std::sync::{Arc, RwLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int32Array, ListArray, StringArray, StructArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
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

/// A function that signals other sessions by pid (`pg_cancel_backend`,
/// `pg_terminate_backend`): a role signals its own sessions, superusers
/// anyone's; `what` names the act in the refusal.
fn signal_function(
    name: &'static str,
    what: &'static str,
    activity: Arc<super::activity::ActivityRegistry>,
    roles: Arc<crate::auth::roles::RoleStore>,
    caller: String,
    signal: fn(&super::activity::ActivityRegistry, i32) -> bool,
) -> ScalarUDF {
    ScalarUDF::new_from_impl(CatalogFunction {
        name,
        signature: Signature::uniform(
            1,
            vec![DataType::Int32, DataType::Int64],
            Volatility::Volatile,
        ),
        returns: DataType::Boolean,
        answer: Arc::new(move |args| {
            let pids = ColumnarValue::values_to_arrays(args)?;
            let pids = datafusion::arrow::compute::cast(&pids[0], &DataType::Int64)?;
            let superuser = roles.principal(&caller).superuser;
            let mut done = Vec::with_capacity(pids.len());
            for pid in pids.as_primitive::<Int64Type>().iter() {
                let Some(pid) = pid.and_then(|pid| i32::try_from(pid).ok()) else {
                    done.push(pid.map(|_| false));
                    continue;
                };
                if !superuser && activity.user_of(pid).is_some_and(|owner| owner != caller) {
                    return Err(datafusion::error::DataFusionError::External(Box::new(
                        crate::error::StrataError::Role(
                            crate::auth::roles::RoleError::PermissionDenied(format!(
                                "permission denied to {what}: only superusers and the \
                                 session's own role may"
                            )),
                        ),
                    )));
                }
                done.push(Some(signal(&activity, pid)));
            }
            Ok(ColumnarValue::Array(Arc::new(BooleanArray::from(done))))
        }),
    })
}

/// The session functions for a session of `user` connected to `database`.
pub fn session_functions(
    user: &str,
    database: &str,
    pid: i32,
    settings: Arc<RwLock<Settings>>,
    activity: Arc<super::activity::ActivityRegistry>,
    roles: Arc<crate::auth::roles::RoleStore>,
) -> Vec<ScalarUDF> {
    let caller = user.to_owned();
    let role_names = Arc::clone(&roles);
    let mut functions = vec![
        constant("version", version_string()),
        constant("getdatabaseencoding", "UTF8".to_owned()),
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
    // which every search path holds.
    // pg_get_expr(expr, relation [, pretty]): Strata's catalogs keep an
    // expression (a source column's default) as PostgreSQL prints it, so
    // it is its own text; NULL stays NULL.
    functions.push(ScalarUDF::new_from_impl(CatalogFunction {
        name: "pg_get_expr",
        signature: Signature::one_of(
            vec![TypeSignature::Any(2), TypeSignature::Any(3)],
            Volatility::Stable,
        ),
        returns: DataType::Utf8,
        answer: Arc::new(|args| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            Ok(ColumnarValue::Array(datafusion::arrow::compute::cast(
                &arrays[0],
                &DataType::Utf8,
            )?))
        }),
    }));
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
    // pg_cancel_backend(pid): cancels that session's running statement;
    // pg_terminate_backend(pid) ends the session. False when no session
    // has that pid. Volatile, so they run when the statement runs, never
    // while planning.
    functions.push(signal_function(
        "pg_cancel_backend",
        "cancel query",
        Arc::clone(&activity),
        Arc::clone(&roles),
        caller.clone(),
        super::activity::ActivityRegistry::cancel,
    ));
    functions.push(signal_function(
        "pg_terminate_backend",
        "terminate process",
        Arc::clone(&activity),
        Arc::clone(&roles),
        caller.clone(),
        super::activity::ActivityRegistry::terminate,
    ));
    // pg_get_userbyid(oid): the role's name (the owner psql's \dt and \l
    // show), or PostgreSQL's `unknown (OID=n)`.
    functions.push(ScalarUDF::new_from_impl(CatalogFunction {
        name: "pg_get_userbyid",
        signature: Signature::uniform(
            1,
            vec![DataType::Int32, DataType::Int64, DataType::UInt32],
            Volatility::Stable,
        ),
        returns: DataType::Utf8,
        answer: Arc::new(move |args| {
            let oids = ColumnarValue::values_to_arrays(args)?;
            let oids = datafusion::arrow::compute::cast(&oids[0], &DataType::Int64)?;
            let known = role_names.roles();
            let names: StringArray = oids
                .as_primitive::<Int64Type>()
                .iter()
                .map(|oid| {
                    oid.map(|oid| {
                        known
                            .iter()
                            .find(|r| i64::from(r.oid) == oid)
                            .map_or_else(|| format!("unknown (OID={oid})"), |r| r.name.clone())
                    })
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(names)))
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
pub(super) type Answer =
    Arc<dyn Fn(&[ColumnarValue]) -> datafusion::error::Result<ColumnarValue> + Send + Sync>;

/// A catalog function named `name` (the name is its identity).
pub(super) fn catalog_function(
    name: &'static str,
    signature: Signature,
    returns: DataType,
    answer: Answer,
) -> ScalarUDF {
    ScalarUDF::new_from_impl(CatalogFunction {
        name,
        signature,
        returns,
        answer,
    })
}

/// The catalog functions psql's `\d` family calls that no session changes.
///
/// The `*_is_visible` functions say true: every object Strata lists is in a
/// schema the search path holds (pg_catalog) or qualified in the listing.
/// `pg_has_role` says true: every user is an administrator until roles
/// exist. Descriptions of objects that cannot have one (schemas, types,
/// databases, functions) are NULL, as in PostgreSQL for an object without a
/// comment; so are the definitions of functions, which Strata's are not
/// written in SQL.
/// The first number `txid_current()` gives, above PostgreSQL's reserved
/// transaction ids.
const FIRST_TRANSACTION: i64 = 1000;

pub fn catalog_functions() -> Vec<ScalarUDF> {
    let stable = |arities: &[usize]| {
        Signature::one_of(
            arities.iter().map(|n| TypeSignature::Any(*n)).collect(),
            Volatility::Stable,
        )
    };
    let always = |value: ScalarValue| -> Answer {
        Arc::new(move |args: &[ColumnarValue]| {
            let rows = args.iter().find_map(|a| match a {
                ColumnarValue::Array(array) => Some(array.len()),
                ColumnarValue::Scalar(_) => None,
            });
            Ok(match rows {
                Some(rows) => ColumnarValue::Array(value.to_array_of_size(rows)?),
                None => ColumnarValue::Scalar(value.clone()),
            })
        })
    };
    let mut functions = Vec::new();
    for name in [
        "pg_function_is_visible",
        "pg_operator_is_visible",
        "pg_opclass_is_visible",
        "pg_opfamily_is_visible",
        "pg_conversion_is_visible",
        "pg_collation_is_visible",
        "pg_statistics_obj_is_visible",
        "pg_ts_config_is_visible",
        "pg_ts_dict_is_visible",
        "pg_ts_parser_is_visible",
        "pg_ts_template_is_visible",
    ] {
        functions.push(catalog_function(
            name,
            stable(&[1]),
            DataType::Boolean,
            always(ScalarValue::Boolean(Some(true))),
        ));
    }
    functions.push(catalog_function(
        "pg_has_role",
        stable(&[2, 3]),
        DataType::Boolean,
        always(ScalarValue::Boolean(Some(true))),
    ));
    // The default tablespaces' location is empty.
    functions.push(catalog_function(
        "pg_tablespace_location",
        stable(&[1]),
        DataType::Utf8,
        always(ScalarValue::Utf8(Some(String::new()))),
    ));
    // What Strata does not track: shared objects' comments, database and
    // tablespace sizes, catalog objects' descriptions (psql's `\l+`,
    // `\db+`, `\dx+`) are NULL.
    // Strata has no rewrite rules nor triggers: pg_get_ruledef and
    // pg_get_triggerdef answer NULL too.
    for (name, arities, returns) in [
        ("pg_get_ruledef", &[1, 2][..], DataType::Utf8),
        ("pg_get_triggerdef", &[1, 2][..], DataType::Utf8),
        ("shobj_description", &[1, 2][..], DataType::Utf8),
        ("pg_database_size", &[1][..], DataType::Int64),
        ("pg_tablespace_size", &[1][..], DataType::Int64),
        ("pg_describe_object", &[3][..], DataType::Utf8),
    ] {
        functions.push(catalog_function(
            name,
            stable(arities),
            returns.clone(),
            always(ScalarValue::try_from(&returns).unwrap_or(ScalarValue::Null)),
        ));
    }
    // The number of an encoding's name (psql's `\dO+`); -1 for a name
    // PostgreSQL does not know.
    functions.push(catalog_function(
        "pg_char_to_encoding",
        stable(&[1]),
        DataType::Int32,
        Arc::new(|args: &[ColumnarValue]| {
            let names = ColumnarValue::values_to_arrays(args)?;
            let names = datafusion::arrow::compute::cast(&names[0], &DataType::Utf8)?;
            let numbers: Int32Array = names
                .as_string::<i32>()
                .iter()
                .map(|name| name.map(encoding_number))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(numbers)))
        }),
    ));
    for name in [
        "pg_get_function_result",
        "pg_get_function_arguments",
        "pg_get_function_identity_arguments",
        "pg_get_functiondef",
        "pg_get_function_sqlbody",
    ] {
        functions.push(catalog_function(
            name,
            stable(&[1]),
            DataType::Utf8,
            always(ScalarValue::Utf8(None)),
        ));
    }
    // A primary server, never in recovery (DataGrip asks before reading
    // txid_current()).
    functions.push(catalog_function(
        "pg_is_in_recovery",
        Signature::nullary(Volatility::Stable),
        DataType::Boolean,
        always(ScalarValue::Boolean(Some(false))),
    ));
    let started = ScalarValue::TimestampMicrosecond(
        Some(chrono::Utc::now().timestamp_micros()),
        Some("UTC".into()),
    );
    functions.push(catalog_function(
        "pg_postmaster_start_time",
        Signature::nullary(Volatility::Stable),
        started.data_type(),
        always(started),
    ));
    // Strata's statements are not numbered transactions; each call gets a
    // new number, as a statement outside a transaction block does.
    let next_transaction = Arc::new(std::sync::atomic::AtomicI64::new(FIRST_TRANSACTION));
    functions.push(catalog_function(
        "txid_current",
        Signature::nullary(Volatility::Volatile),
        DataType::Int64,
        Arc::new(move |_: &[ColumnarValue]| {
            let id = next_transaction.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(ColumnarValue::Scalar(ScalarValue::Int64(Some(id))))
        }),
    ));
    // age(xid): how many transactions ago `xid` was; Strata's catalog rows
    // were all written by the bootstrap transaction.
    functions.push(catalog_function(
        "age",
        Signature::one_of(
            vec![
                TypeSignature::Exact(vec![DataType::Int64]),
                TypeSignature::Exact(vec![DataType::Int32]),
            ],
            Volatility::Stable,
        ),
        DataType::Int32,
        always(ScalarValue::Int32(Some(0))),
    ));
    functions.push(catalog_function(
        "pg_size_pretty",
        stable(&[1]),
        DataType::Utf8,
        Arc::new(|args: &[ColumnarValue]| {
            let sizes = ColumnarValue::values_to_arrays(args)?;
            let sizes = datafusion::arrow::compute::cast(&sizes[0], &DataType::Int64)?;
            let pretty: StringArray = sizes
                .as_primitive::<Int64Type>()
                .iter()
                .map(|size| size.map(size_pretty))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(pretty)))
        }),
    ));
    functions.push(ScalarUDF::new_from_impl(PgExpandArray {
        signature: Signature::any(1, Volatility::Immutable),
    }));
    functions
}

/// PostgreSQL's number for an encoding name, as `pg_char_to_encoding`.
fn encoding_number(name: &str) -> i32 {
    const ENCODINGS: [&str; 42] = [
        "SQL_ASCII",
        "EUC_JP",
        "EUC_CN",
        "EUC_KR",
        "EUC_TW",
        "EUC_JIS_2004",
        "UTF8",
        "MULE_INTERNAL",
        "LATIN1",
        "LATIN2",
        "LATIN3",
        "LATIN4",
        "LATIN5",
        "LATIN6",
        "LATIN7",
        "LATIN8",
        "LATIN9",
        "LATIN10",
        "WIN1256",
        "WIN1258",
        "WIN866",
        "WIN874",
        "KOI8R",
        "WIN1251",
        "WIN1252",
        "ISO_8859_5",
        "ISO_8859_6",
        "ISO_8859_7",
        "ISO_8859_8",
        "WIN1250",
        "WIN1253",
        "WIN1254",
        "WIN1255",
        "WIN1257",
        "KOI8U",
        "SJIS",
        "BIG5",
        "GBK",
        "UHC",
        "GB18030",
        "JOHAB",
        "SHIFT_JIS_2004",
    ];
    let wanted: String = name
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .collect::<String>()
        .to_ascii_uppercase();
    ENCODINGS
        .iter()
        .position(|e| e.replace('_', "") == wanted)
        .map_or(-1, |n| n as i32)
}

/// `information_schema._pg_expandarray(array)`, PostgreSQL's set-returning
/// function of (x, n) pairs — each element and its 1-based position — which
/// pgjdbc's key and index metadata queries expand `pg_index.indkey` with.
/// Here it returns the pairs as an array of structs; the statement rewrite
/// unnests it where the query calls it.
#[derive(Debug, PartialEq, Eq, Hash)]
struct PgExpandArray {
    signature: Signature,
}

impl PgExpandArray {
    fn pair(element: &DataType) -> Field {
        Field::new_list_field(
            DataType::Struct(
                vec![
                    Field::new("x", element.clone(), true),
                    Field::new("n", DataType::Int32, false),
                ]
                .into(),
            ),
            true,
        )
    }
}

impl ScalarUDFImpl for PgExpandArray {
    fn name(&self) -> &str {
        "_pg_expandarray"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> datafusion::error::Result<DataType> {
        match arg_types {
            [DataType::List(item) | DataType::LargeList(item)] => {
                Ok(DataType::List(Arc::new(Self::pair(item.data_type()))))
            }
            [DataType::Null] => Ok(DataType::List(Arc::new(Self::pair(&DataType::Null)))),
            other => exec_err!("_pg_expandarray takes an array, not {other:?}"),
        }
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let DataType::List(pair) = self.return_type(&[arrays[0].data_type().clone()])? else {
            return exec_err!("_pg_expandarray takes an array");
        };
        let DataType::Struct(fields) = pair.data_type().clone() else {
            return exec_err!("_pg_expandarray returns pairs");
        };
        let target = DataType::List(Arc::new(Field::new_list_field(
            fields[0].data_type().clone(),
            true,
        )));
        let lists = datafusion::arrow::compute::cast(&arrays[0], &target)?;
        let lists = lists.as_list::<i32>();
        let offsets = lists.offsets();
        let first = offsets[0];
        let last = offsets[offsets.len() - 1];
        let values = lists
            .values()
            .slice(first as usize, (last - first) as usize);
        let mut positions = Vec::with_capacity(values.len());
        for window in offsets.windows(2) {
            positions.extend(1..=(window[1] - window[0]));
        }
        let pairs = StructArray::try_new(
            fields,
            vec![values, Arc::new(Int32Array::from(positions)) as ArrayRef],
            None,
        )?;
        let rebased =
            OffsetBuffer::new(offsets.iter().map(|o| o - first).collect::<Vec<_>>().into());
        let expanded = ListArray::try_new(pair, rebased, Arc::new(pairs), lists.nulls().cloned())?;
        Ok(ColumnarValue::Array(Arc::new(expanded)))
    }
}

/// `array_to_string` that also takes text: pg_catalog keeps access lists
/// (`nspacl`, `datacl`, ...) as text, which psql's `\dn+` and `\l+` pass to
/// it; a text is returned as it is. Arrays go to DataFusion's function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ArrayToString {
    signature: Signature,
}

impl ArrayToString {
    pub fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(Self {
            signature: Signature::user_defined(Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for ArrayToString {
    fn name(&self) -> &str {
        "array_to_string"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> datafusion::error::Result<Vec<DataType>> {
        let Some((first, rest)) = arg_types.split_first() else {
            return exec_err!("array_to_string takes an array and a delimiter");
        };
        if !(1..=2).contains(&rest.len()) {
            return exec_err!("array_to_string takes an array, a delimiter and a null string");
        }
        let first = match first {
            DataType::Utf8View | DataType::LargeUtf8 | DataType::Null => DataType::Utf8,
            other => other.clone(),
        };
        Ok(std::iter::once(first)
            .chain(rest.iter().map(|_| DataType::Utf8))
            .collect())
    }

    fn return_type(&self, _arg_types: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        match args.args.first().map(ColumnarValue::data_type) {
            Some(DataType::Utf8) => Ok(args.args[0].clone()),
            _ => datafusion::functions_nested::string::array_to_string_udf().invoke_with_args(args),
        }
    }
}

/// `pg_size_pretty`: bytes below 10 kB, else kB, MB, GB, TB or PB, rounded
/// half away from zero, each unit up to 20 thousand-odd of it.
fn size_pretty(size: i64) -> String {
    const UNITS: [(&str, i64); 6] = [
        ("bytes", 10 * 1024),
        ("kB", 20 * 1024 - 1),
        ("MB", 20 * 1024 - 1),
        ("GB", 20 * 1024 - 1),
        ("TB", 20 * 1024 - 1),
        ("PB", 20 * 1024 - 1),
    ];
    let half_rounded = |x: i64| (x + if x < 0 { -1 } else { 1 }) / 2;
    let mut size = size;
    for (i, (unit, limit)) in UNITS.iter().enumerate() {
        if i == UNITS.len() - 1 || size.abs() < *limit {
            let shown = if i == 0 { size } else { half_rounded(size) };
            return format!("{shown} {unit}");
        }
        // Bytes to half-kB (kept for rounding), then 1024 at a time.
        size /= if i == 0 { 1 << 9 } else { 1 << 10 };
    }
    unreachable!("the last unit always answers")
}

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

#[cfg(test)]
mod tests {
    use super::size_pretty;

    #[test]
    fn sizes_read_like_postgres() {
        // What PostgreSQL 15's pg_size_pretty answers.
        assert_eq!(size_pretty(0), "0 bytes");
        assert_eq!(size_pretty(10239), "10239 bytes");
        assert_eq!(size_pretty(10240), "10 kB");
        assert_eq!(size_pretty(1_000_000), "977 kB");
        assert_eq!(size_pretty(20_971_520), "20 MB");
        assert_eq!(size_pretty(123_456_789_012), "115 GB");
        assert_eq!(size_pretty(-10240), "-10 kB");
        assert_eq!(size_pretty(1 << 50), "1024 TB");
        assert_eq!(size_pretty(i64::MAX), "8192 PB");
    }
}
