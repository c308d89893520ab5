use crate::connection::storage;
use crate::convert::{corrupt, json, to_json};
use crate::schema::benefit_types;
use crate::Database;
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
        let mut conn = self.conn()?;
        let rows: Vec<TypeRow> = benefit_types::table.load(&mut conn).map_err(storage)?;
        let types = rows
            .into_iter()
            .map(TypeRow::into_domain)
            .collect::<Result<_, _>>()?;
        Ok(Catalog::new(types))
    }
}
