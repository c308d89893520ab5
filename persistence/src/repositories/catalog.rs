use crate::connection::storage;
use crate::convert::{corrupt, json, to_json};
use crate::schema::benefit_types;
use crate::{Database, Tx};
use diesel::prelude::*;
use domain::catalog::{BenefitType, Catalog, Unit};
use domain::error::StorageError;
use domain::ports::CatalogRepository;

#[derive(Queryable, Insertable, AsChangeset)]
#[diesel(table_name = benefit_types)]
struct TypeRow {
    code: String,
    unit: String,
    position: i32,
    definition: String,
}

impl TypeRow {
    fn from_domain(t: &BenefitType) -> Result<Self, StorageError> {
        Ok(Self {
            code: t.code.as_str().to_owned(),
            unit: t.unit.code().to_owned(),
            position: t.position,
            definition: to_json(t)?,
        })
    }

    fn into_domain(self) -> Result<BenefitType, StorageError> {
        let t: BenefitType = json("benefit type", &self.definition)?;
        let unit = Unit::parse(&self.unit).ok_or_else(|| corrupt("unit", &self.unit))?;
        if t.code.as_str() != self.code || t.unit != unit {
            return Err(StorageError(format!(
                "benefit type {} disagrees with its definition",
                self.code
            )));
        }
        Ok(t)
    }
}

impl Tx<'_> {
    /// The catalog as this transaction sees it.
    pub fn catalog(&mut self) -> Result<Catalog, StorageError> {
        load(self.conn()?)
    }

    /// Adds a type to the catalog; `false` when the code is taken. The code is the table's
    /// key: of two transactions adding the same code at once, the second gets `false` (on
    /// PostgreSQL the transaction is then aborted: the caller must give up, as it does).
    pub fn insert_type(&mut self, t: &BenefitType) -> Result<bool, StorageError> {
        use diesel::result::{DatabaseErrorKind, Error};
        match diesel::insert_into(benefit_types::table)
            .values(&TypeRow::from_domain(t)?)
            .execute(self.conn()?)
        {
            Ok(_) => Ok(true),
            Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
            Err(e) => Err(storage(e)),
        }
    }
}

fn load(conn: &mut crate::DbConnection) -> Result<Catalog, StorageError> {
    let rows: Vec<TypeRow> = benefit_types::table.load(conn).map_err(storage)?;
    let types = rows
        .into_iter()
        .map(TypeRow::into_domain)
        .collect::<Result<_, _>>()?;
    Ok(Catalog::new(types))
}

impl CatalogRepository for Database {
    fn install_catalog(&self, catalog: &Catalog) -> Result<(), StorageError> {
        self.write_transaction(|conn| {
            for t in catalog.types() {
                let row = TypeRow::from_domain(t)?;
                let updated = diesel::update(benefit_types::table.find(&row.code))
                    .set(&row)
                    .execute(conn)
                    .map_err(storage)?;
                if updated == 0 {
                    diesel::insert_into(benefit_types::table)
                        .values(&row)
                        .execute(conn)
                        .map_err(storage)?;
                }
            }
            Ok(())
        })
    }

    fn catalog(&self) -> Result<Catalog, StorageError> {
        load(&mut *self.conn()?)
    }
}
