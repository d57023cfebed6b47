"""Brazilian cities where the demo operator has stores.

Coordinates are the approximate city centre (WGS84, ~0.05 degree precision); populations are
approximate 2022 census figures in thousands. Every one of the 27 federative units is present.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class City:
    name: str
    state: str
    latitude: float
    longitude: float
    population_k: int


CITIES: tuple[City, ...] = (
    # Norte
    City("Rio Branco", "AC", -9.975, -67.810, 364),
    City("Cruzeiro do Sul", "AC", -7.631, -72.670, 92),
    City("Macapá", "AP", 0.035, -51.070, 443),
    City("Santana", "AP", -0.058, -51.172, 108),
    City("Manaus", "AM", -3.119, -60.022, 2064),
    City("Parintins", "AM", -2.628, -56.736, 96),
    City("Belém", "PA", -1.456, -48.490, 1303),
    City("Ananindeua", "PA", -1.366, -48.372, 479),
    City("Santarém", "PA", -2.443, -54.708, 332),
    City("Marabá", "PA", -5.368, -49.118, 267),
    City("Parauapebas", "PA", -6.067, -49.902, 267),
    City("Porto Velho", "RO", -8.762, -63.904, 460),
    City("Ji-Paraná", "RO", -10.878, -61.952, 124),
    City("Boa Vista", "RR", 2.820, -60.672, 414),
    City("Palmas", "TO", -10.184, -48.334, 303),
    City("Araguaína", "TO", -7.191, -48.207, 171),
    # Nordeste
    City("Maceió", "AL", -9.666, -35.735, 958),
    City("Arapiraca", "AL", -9.752, -36.661, 234),
    City("Salvador", "BA", -12.971, -38.501, 2418),
    City("Feira de Santana", "BA", -12.267, -38.967, 616),
    City("Vitória da Conquista", "BA", -14.866, -40.839, 371),
    City("Camaçari", "BA", -12.698, -38.324, 300),
    City("Juazeiro", "BA", -9.416, -40.503, 238),
    City("Itabuna", "BA", -14.786, -39.280, 187),
    City("Lauro de Freitas", "BA", -12.894, -38.327, 203),
    City("Barreiras", "BA", -12.153, -44.990, 160),
    City("Fortaleza", "CE", -3.732, -38.527, 2429),
    City("Caucaia", "CE", -3.736, -38.653, 356),
    City("Juazeiro do Norte", "CE", -7.213, -39.315, 286),
    City("Maracanaú", "CE", -3.877, -38.626, 234),
    City("Sobral", "CE", -3.689, -40.349, 203),
    City("São Luís", "MA", -2.530, -44.303, 1038),
    City("Imperatriz", "MA", -5.526, -47.491, 273),
    City("Timon", "MA", -5.094, -42.837, 174),
    City("João Pessoa", "PB", -7.119, -34.863, 834),
    City("Campina Grande", "PB", -7.230, -35.881, 419),
    City("Patos", "PB", -7.024, -37.280, 103),
    City("Recife", "PE", -8.054, -34.891, 1489),
    City("Jaboatão dos Guararapes", "PE", -8.113, -35.015, 645),
    City("Olinda", "PE", -8.009, -34.862, 350),
    City("Caruaru", "PE", -8.284, -35.970, 378),
    City("Petrolina", "PE", -9.389, -40.503, 387),
    City("Paulista", "PE", -7.941, -34.880, 342),
    City("Teresina", "PI", -5.089, -42.802, 866),
    City("Parnaíba", "PI", -2.905, -41.777, 162),
    City("Natal", "RN", -5.795, -35.209, 751),
    City("Mossoró", "RN", -5.188, -37.344, 265),
    City("Parnamirim", "RN", -5.916, -35.263, 253),
    City("Aracaju", "SE", -10.947, -37.073, 603),
    City("Nossa Senhora do Socorro", "SE", -10.855, -37.126, 192),
    # Centro-Oeste
    City("Brasília", "DF", -15.794, -47.882, 2817),
    City("Goiânia", "GO", -16.686, -49.264, 1437),
    City("Aparecida de Goiânia", "GO", -16.823, -49.244, 528),
    City("Anápolis", "GO", -16.328, -48.953, 392),
    City("Rio Verde", "GO", -17.792, -50.919, 226),
    City("Cuiabá", "MT", -15.601, -56.097, 651),
    City("Várzea Grande", "MT", -15.646, -56.132, 300),
    City("Rondonópolis", "MT", -16.470, -54.636, 245),
    City("Sinop", "MT", -11.864, -55.503, 196),
    City("Campo Grande", "MS", -20.469, -54.620, 898),
    City("Dourados", "MS", -22.221, -54.806, 243),
    City("Três Lagoas", "MS", -20.751, -51.678, 132),
    # Sudeste
    City("Vitória", "ES", -20.315, -40.312, 323),
    City("Vila Velha", "ES", -20.330, -40.292, 468),
    City("Serra", "ES", -20.128, -40.308, 521),
    City("Cariacica", "ES", -20.264, -40.420, 354),
    City("Cachoeiro de Itapemirim", "ES", -20.849, -41.113, 186),
    City("Belo Horizonte", "MG", -19.917, -43.934, 2316),
    City("Uberlândia", "MG", -18.912, -48.275, 713),
    City("Contagem", "MG", -19.932, -44.054, 622),
    City("Juiz de Fora", "MG", -21.764, -43.350, 541),
    City("Betim", "MG", -19.968, -44.198, 412),
    City("Montes Claros", "MG", -16.735, -43.862, 414),
    City("Uberaba", "MG", -19.748, -47.932, 337),
    City("Governador Valadares", "MG", -18.851, -41.949, 257),
    City("Ipatinga", "MG", -19.468, -42.537, 227),
    City("Rio de Janeiro", "RJ", -22.907, -43.173, 6211),
    City("São Gonçalo", "RJ", -22.827, -43.054, 897),
    City("Duque de Caxias", "RJ", -22.786, -43.312, 808),
    City("Nova Iguaçu", "RJ", -22.759, -43.451, 786),
    City("Niterói", "RJ", -22.883, -43.104, 482),
    City("Belford Roxo", "RJ", -22.764, -43.399, 483),
    City("Campos dos Goytacazes", "RJ", -21.752, -41.330, 484),
    City("Petrópolis", "RJ", -22.505, -43.179, 279),
    City("Volta Redonda", "RJ", -22.523, -44.104, 262),
    City("São Paulo", "SP", -23.550, -46.633, 11451),
    City("Guarulhos", "SP", -23.454, -46.533, 1292),
    City("Campinas", "SP", -22.906, -47.061, 1139),
    City("São Bernardo do Campo", "SP", -23.694, -46.565, 811),
    City("Santo André", "SP", -23.664, -46.538, 749),
    City("Osasco", "SP", -23.533, -46.792, 729),
    City("Sorocaba", "SP", -23.502, -47.458, 724),
    City("Ribeirão Preto", "SP", -21.178, -47.810, 699),
    City("São José dos Campos", "SP", -23.179, -45.887, 697),
    City("Mogi das Cruzes", "SP", -23.523, -46.188, 452),
    City("Santos", "SP", -23.961, -46.333, 419),
    City("Jundiaí", "SP", -23.186, -46.884, 443),
    City("Piracicaba", "SP", -22.725, -47.649, 423),
    City("Bauru", "SP", -22.315, -49.061, 379),
    City("São José do Rio Preto", "SP", -20.820, -49.379, 480),
    City("Franca", "SP", -20.539, -47.401, 353),
    City("Praia Grande", "SP", -24.006, -46.402, 350),
    City("Presidente Prudente", "SP", -22.126, -51.389, 226),
    # Sul
    City("Curitiba", "PR", -25.429, -49.271, 1774),
    City("Londrina", "PR", -23.310, -51.163, 556),
    City("Maringá", "PR", -23.420, -51.933, 410),
    City("Ponta Grossa", "PR", -25.095, -50.162, 358),
    City("Cascavel", "PR", -24.956, -53.455, 348),
    City("São José dos Pinhais", "PR", -25.535, -49.206, 329),
    City("Foz do Iguaçu", "PR", -25.547, -54.588, 285),
    City("Porto Alegre", "RS", -30.035, -51.218, 1333),
    City("Caxias do Sul", "RS", -29.168, -51.179, 463),
    City("Canoas", "RS", -29.918, -51.184, 348),
    City("Pelotas", "RS", -31.772, -52.343, 326),
    City("Santa Maria", "RS", -29.684, -53.807, 272),
    City("Novo Hamburgo", "RS", -29.678, -51.131, 228),
    City("Passo Fundo", "RS", -28.262, -52.407, 206),
    City("Joinville", "SC", -26.304, -48.846, 616),
    City("Florianópolis", "SC", -27.595, -48.548, 537),
    City("Blumenau", "SC", -26.919, -49.066, 361),
    City("São José", "SC", -27.614, -48.637, 270),
    City("Itajaí", "SC", -26.908, -48.662, 264),
    City("Chapecó", "SC", -27.100, -52.615, 255),
    City("Criciúma", "SC", -28.678, -49.370, 215),
)

UFS: tuple[str, ...] = (
    "AC", "AL", "AP", "AM", "BA", "CE", "DF", "ES", "GO", "MA", "MT", "MS", "MG", "PA",
    "PB", "PR", "PE", "PI", "RJ", "RN", "RS", "RO", "RR", "SC", "SP", "SE", "TO",
)  # fmt: skip
"""The 27 federative units (26 states and the Federal District)."""
