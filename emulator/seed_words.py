"""Word lists for generated customers: Colombian business names, places, streets and codes."""

from __future__ import annotations

NAME_PREFIXES: tuple[str, ...] = (
    "Inversiones", "Distribuidora", "Comercializadora", "Servicios", "Constructora",
    "Transportes", "Panadería", "Ferretería", "Droguería", "Tecnología", "Agropecuaria",
    "Importadora", "Confecciones", "Restaurante", "Café", "Logística", "Soluciones",
    "Consultores", "Alimentos", "Textiles",
)

NAME_CORES: tuple[str, ...] = (
    "Andina", "El Dorado", "La Esperanza", "Los Andes", "del Caribe", "San José", "Santa Fe",
    "El Progreso", "La Sabana", "del Valle", "Pacífico", "El Nevado", "La Guadua", "Cafetera",
    "Magdalena", "Orinoquía", "Sierra Nevada", "La Candelaria", "El Poblado", "Chapinero",
    "Quimbaya", "Tayrona", "Los Llanos", "Macondo", "La Ceiba",
)

NAME_SUFFIXES: tuple[str, ...] = ("S.A.S.", "S.A.S.", "S.A.S.", "Ltda", "S.A.", "& Cía. S.A.S.")

EMAIL_USERS: tuple[str, ...] = ("contacto", "ventas", "info", "gerencia", "pagos", "admin")
EMAIL_DOMAINS: tuple[str, ...] = (".com.co", ".co", ".com")

# (city, department, first two digits of its postal codes)
CITIES: tuple[tuple[str, str, str], ...] = (
    ("Bogotá", "Cundinamarca", "11"),
    ("Medellín", "Antioquia", "05"),
    ("Cali", "Valle del Cauca", "76"),
    ("Barranquilla", "Atlántico", "08"),
    ("Cartagena", "Bolívar", "13"),
    ("Bucaramanga", "Santander", "68"),
    ("Pereira", "Risaralda", "66"),
    ("Manizales", "Caldas", "17"),
    ("Cúcuta", "Norte de Santander", "54"),
    ("Santa Marta", "Magdalena", "47"),
    ("Ibagué", "Tolima", "73"),
    ("Villavicencio", "Meta", "50"),
    ("Pasto", "Nariño", "52"),
    ("Montería", "Córdoba", "23"),
    ("Neiva", "Huila", "41"),
    ("Armenia", "Quindío", "63"),
    ("Popayán", "Cauca", "19"),
    ("Tunja", "Boyacá", "15"),
    ("Valledupar", "Cesar", "20"),
    ("Sincelejo", "Sucre", "70"),
)

STREET_KINDS: tuple[str, ...] = (
    "Calle", "Carrera", "Avenida", "Diagonal", "Transversal", "Avenida Carrera",
)

UNIT_KINDS: tuple[str, ...] = ("Oficina", "Local", "Bodega", "Piso", "Apto", "Consultorio")

PLACE_NAMES: tuple[str, ...] = (
    "Edificio Torre Central", "Centro Comercial Andino", "Barrio El Prado", "Zona Franca",
    "Parque Industrial", "Barrio La Soledad", "Centro Empresarial Santa Bárbara",
    "Barrio San Fernando", "Conjunto Los Pinos", "Centro Histórico",
)

MERCHANT_CATEGORY_CODES: tuple[str, ...] = (
    "0763", "1520", "1799", "4121", "4214", "4812", "5045", "5111", "5211", "5251", "5311",
    "5411", "5499", "5651", "5732", "5812", "5814", "5912", "5999", "7011", "7299", "7399",
    "8062", "8099", "8299",
)
