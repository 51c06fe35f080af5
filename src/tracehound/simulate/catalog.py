"""Static vocabulary of the simulated tenant: places, networks, apps, browsers, result codes.

Kept apart from the generators so the numbers that make the tenant look real (which countries, which
address ranges, which browser versions and in what mix) can be read and tuned in one place. Address
ranges are /16s of the kind each network really uses (residential ISPs, mobile carriers, hosting and VPN
providers); the simulator only draws addresses inside them, it never claims a real host did anything.
"""

from __future__ import annotations

from typing import NamedTuple


class City(NamedTuple):
    country: str
    state: str
    city: str
    lat: float
    lon: float
    utc_offset: float  # hours; DST is ignored, it only shifts working hours by one hour


CITIES: tuple[City, ...] = (
    City("US", "Illinois", "Chicago", 41.8781, -87.6298, -6),
    City("US", "New York", "New York", 40.7128, -74.0060, -5),
    City("US", "California", "San Francisco", 37.7749, -122.4194, -8),
    City("US", "Texas", "Austin", 30.2672, -97.7431, -6),
    City("US", "Washington", "Seattle", 47.6062, -122.3321, -8),
    City("US", "Georgia", "Atlanta", 33.7490, -84.3880, -5),
    City("US", "Massachusetts", "Boston", 42.3601, -71.0589, -5),
    City("US", "Colorado", "Denver", 39.7392, -104.9903, -7),
    City("US", "Illinois", "Park Ridge", 42.0111, -87.8406, -6),
    City("US", "New Jersey", "Newark", 40.7357, -74.1724, -5),
    City("GB", "England", "London", 51.5072, -0.1276, 0),
    City("GB", "England", "Manchester", 53.4808, -2.2426, 0),
    City("GB", "Scotland", "Edinburgh", 55.9533, -3.1883, 0),
    City("GB", "England", "Bristol", 51.4545, -2.5879, 0),
    City("GB", "England", "Leeds", 53.8008, -1.5491, 0),
    City("DE", "Berlin", "Berlin", 52.5200, 13.4050, 1),
    City("DE", "Bayern", "Munich", 48.1351, 11.5820, 1),
    City("DE", "Hessen", "Frankfurt am Main", 50.1109, 8.6821, 1),
    City("DE", "Hamburg", "Hamburg", 53.5511, 9.9937, 1),
    City("IN", "Karnataka", "Bengaluru", 12.9716, 77.5946, 5.5),
    City("IN", "Maharashtra", "Mumbai", 19.0760, 72.8777, 5.5),
    City("IN", "Telangana", "Hyderabad", 17.3850, 78.4867, 5.5),
    City("FR", "Ile-de-France", "Paris", 48.8566, 2.3522, 1),
    City("FR", "Hauts-de-France", "Roubaix", 50.6942, 3.1746, 1),
    City("FR", "Auvergne-Rhone-Alpes", "Lyon", 45.7640, 4.8357, 1),
    City("NL", "Noord-Holland", "Amsterdam", 52.3676, 4.9041, 1),
    City("ES", "Madrid", "Madrid", 40.4168, -3.7038, 1),
    City("ES", "Catalunya", "Barcelona", 41.3874, 2.1686, 1),
    City("IT", "Lazio", "Rome", 41.9028, 12.4964, 1),
    City("IT", "Lombardia", "Milan", 45.4642, 9.1900, 1),
    City("JP", "Tokyo", "Tokyo", 35.6762, 139.6503, 9),
    City("SG", "Singapore", "Singapore", 1.3521, 103.8198, 8),
    City("CA", "Ontario", "Toronto", 43.6532, -79.3832, -5),
    City("CA", "Quebec", "Montreal", 45.5019, -73.5674, -5),
    City("AU", "New South Wales", "Sydney", -33.8688, 151.2093, 10),
    City("BR", "Sao Paulo", "Sao Paulo", -23.5558, -46.6396, -3),
    City("MX", "Ciudad de Mexico", "Mexico City", 19.4326, -99.1332, -6),
    City("RU", "Moscow", "Moscow", 55.7558, 37.6173, 3),
    City("CN", "Beijing", "Beijing", 39.9042, 116.4074, 8),
    City("VN", "Ha Noi", "Hanoi", 21.0278, 105.8342, 7),
    City("RO", "Bucuresti", "Bucharest", 44.4268, 26.1025, 2),
    City("KR", "Seoul", "Seoul", 37.5665, 126.9780, 9),
    City("TR", "Istanbul", "Istanbul", 41.0082, 28.9784, 3),
    City("NG", "Lagos", "Lagos", 6.5244, 3.3792, 1),
    City("ID", "Jakarta", "Jakarta", -6.2088, 106.8456, 7),
    City("US", "Virginia", "Ashburn", 39.0438, -77.4874, -5),
    City("US", "Oregon", "Boardman", 45.8399, -119.7006, -8),
    # Exit countries of Tor relays and cheap VPS providers (see EXIT_RANGES); no home country here.
    City("SE", "Stockholm", "Stockholm", 59.3293, 18.0686, 1),
    City("CH", "Zurich", "Zurich", 47.3769, 8.5417, 1),
    City("LU", "Luxembourg", "Luxembourg", 49.6116, 6.1319, 1),
    City("MD", "Chisinau", "Chisinau", 47.0105, 28.8638, 2),
    City("PL", "Mazowieckie", "Warsaw", 52.2297, 21.0122, 1),
    City("UA", "Kyiv", "Kyiv", 50.4501, 30.5234, 2),
    City("FI", "Uusimaa", "Helsinki", 60.1699, 24.9384, 2),
    City("IS", "Capital Region", "Reykjavik", 64.1466, -21.9426, 0),
    City("CZ", "Prague", "Prague", 50.0755, 14.4378, 1),
    City("BG", "Sofia", "Sofia", 42.6977, 23.3219, 2),
    City("HK", "Hong Kong", "Hong Kong", 22.3193, 114.1694, 8),
    City("SC", "Mahe", "Victoria", -4.6191, 55.4513, 4),
    City("PA", "Panama", "Panama City", 8.9824, -79.5199, -5),
)

#: Where users live, and how likely a user is to live there (most of a tenant sits in one or two countries).
HOME_COUNTRIES: dict[str, float] = {"US": 0.72, "GB": 0.20, "DE": 0.05, "IN": 0.03}

#: Countries people travel to (business trips, holidays).
TRAVEL_COUNTRIES: tuple[str, ...] = ("FR", "NL", "ES", "IT", "JP", "SG", "CA", "AU", "MX", "DE", "GB", "US")

#: Residential ISP /16s per country (home broadband; also where travellers' hotels and some sprays sit).
RESIDENTIAL: dict[str, tuple[str, ...]] = {
    "US": ("73.15", "73.162", "98.207", "24.13", "71.201", "108.28", "67.160", "76.104"),
    "GB": ("86.150", "81.101", "90.216", "2.96", "82.24"),
    "DE": ("91.64", "84.131", "93.211", "79.206"),
    "IN": ("49.36", "117.198", "106.51"),
    "FR": ("90.63", "86.247", "92.184"),
    "NL": ("84.104", "77.172"),
    "ES": ("83.56", "88.26"),
    "IT": ("79.20", "93.44"),
    "JP": ("126.75", "60.71"),
    "SG": ("116.86", "202.166"),
    "CA": ("99.230", "70.49"),
    "AU": ("1.144", "101.181"),
    "MX": ("187.188", "189.203"),
    "BR": ("177.94", "189.6"),
}

#: Mobile carrier /16s (carrier-grade NAT: many users share a pool, geolocation is coarse).
MOBILE: dict[str, tuple[str, ...]] = {
    "US": ("172.56", "174.205", "107.77"),
    "GB": ("82.132", "31.94"),
    "DE": ("80.187", "109.43"),
    "IN": ("157.32", "223.185"),
}

#: Corporate egress /16s per country: each office gets a /24 inside one of them.
CORPORATE: dict[str, tuple[str, ...]] = {
    "US": ("12.161", "63.117", "208.80"),
    "GB": ("195.59", "194.72"),
    "DE": ("212.114", "217.6"),
    "IN": ("115.112", "14.140"),
}


class HostingRange(NamedTuple):
    prefix16: str
    provider: str
    country: str
    city: str


#: Hosting, cloud and commercial-VPN ranges: where spray infrastructure usually lives.
HOSTING: tuple[HostingRange, ...] = (
    HostingRange("159.89", "DigitalOcean", "DE", "Frankfurt am Main"),
    HostingRange("167.99", "DigitalOcean", "US", "New York"),
    HostingRange("134.122", "DigitalOcean", "NL", "Amsterdam"),
    HostingRange("51.68", "OVH", "FR", "Roubaix"),
    HostingRange("51.75", "OVH", "FR", "Roubaix"),
    HostingRange("95.216", "Hetzner", "DE", "Berlin"),
    HostingRange("78.46", "Hetzner", "DE", "Munich"),
    HostingRange("45.32", "Vultr", "US", "Ashburn"),
    HostingRange("45.76", "Vultr", "SG", "Singapore"),
    HostingRange("149.28", "Choopa", "JP", "Tokyo"),
    HostingRange("3.120", "AWS", "US", "Boardman"),
    HostingRange("185.156", "M247", "RO", "Bucharest"),
    HostingRange("89.187", "M247", "NL", "Amsterdam"),
    HostingRange("47.74", "Alibaba", "SG", "Singapore"),
    HostingRange("43.128", "Tencent", "CN", "Beijing"),
    HostingRange("91.206", "Selectel", "RU", "Moscow"),
    HostingRange("103.97", "VNPT", "VN", "Hanoi"),
    HostingRange("211.234", "KT", "KR", "Seoul"),
    HostingRange("185.220", "Tor exit", "DE", "Berlin"),
    HostingRange("193.42", "Turk Telekom", "TR", "Istanbul"),
    HostingRange("102.89", "MainOne", "NG", "Lagos"),
    HostingRange("36.90", "Telkom", "ID", "Jakarta"),
    HostingRange("177.54", "Locaweb", "BR", "Sao Paulo"),
)

#: Tor exit and offshore / bullet-proof VPS ranges, one or more per country: where a careful sprayer
#: picks its exit country from a short list (``LowAndSlowSpray.exit_countries``).
EXIT_RANGES: tuple[HostingRange, ...] = (
    HostingRange("185.107", "Tor exit", "NL", "Amsterdam"),
    HostingRange("109.70", "Tor exit", "NL", "Amsterdam"),
    HostingRange("171.25", "Tor exit", "SE", "Stockholm"),
    HostingRange("185.100", "Tor exit", "CH", "Zurich"),
    HostingRange("104.244", "Tor exit", "LU", "Luxembourg"),
    HostingRange("192.42", "FranTech", "LU", "Luxembourg"),
    HostingRange("176.123", "Alexhost", "MD", "Chisinau"),
    HostingRange("45.134", "Tor exit", "PL", "Warsaw"),
    HostingRange("193.239", "Hostpro", "UA", "Kyiv"),
    HostingRange("65.21", "Hetzner", "FI", "Helsinki"),
    HostingRange("82.221", "OrangeWebsite", "IS", "Reykjavik"),
    HostingRange("185.246", "Tor exit", "CZ", "Prague"),
    HostingRange("94.156", "Neterra", "BG", "Sofia"),
    HostingRange("103.152", "VPS", "HK", "Hong Kong"),
    HostingRange("196.196", "Offshore VPS", "SC", "Victoria"),
    HostingRange("190.97", "Offshore VPS", "PA", "Panama City"),
    HostingRange("91.219", "Tor exit", "RO", "Bucharest"),
    HostingRange("5.255", "Selectel", "RU", "Moscow"),
    HostingRange("51.15", "OVH", "FR", "Roubaix"),
    HostingRange("139.99", "Linode", "SG", "Singapore"),
    HostingRange("45.141", "VPS", "BR", "Sao Paulo"),
    HostingRange("103.251", "VPS", "VN", "Hanoi"),
)

#: (AppDisplayName, AppId) as Entra ID reports them.
APPS: tuple[tuple[str, str], ...] = (
    ("Office 365 Exchange Online", "00000002-0000-0ff1-ce00-000000000000"),
    ("Office 365 SharePoint Online", "00000003-0000-0ff1-ce00-000000000000"),
    ("Microsoft Teams", "1fec8e78-bce4-4aaf-ab1b-5451cc387264"),
    ("OfficeHome", "4765445b-32c6-49b0-83e6-1d93765276ca"),
    ("My Apps", "2793995e-0a7d-40d7-bd35-6968ba142197"),
    ("Azure Portal", "c44b4083-3bb0-49c1-b47d-974e53cbdf3c"),
    ("Microsoft Office", "d3590ed6-52b3-4102-aeff-aad2292ab01c"),
    ("OneDrive SyncEngine", "ab9b8c07-8f02-4f72-87fa-80105867a763"),
    ("Microsoft Authentication Broker", "29d9ed98-a469-4536-ade2-f981bc1d605e"),
    # Admin tools (public clients that accept a password grant): what a sprayer testing passwords
    # through the resource-owner flow names as its app.
    ("Azure Active Directory PowerShell", "1b730954-1685-4b74-9bfd-dac224a7b894"),
    ("Microsoft Azure CLI", "04b07795-8ddb-461a-bbee-02f9e1bf7b46"),
    ("Microsoft Azure PowerShell", "1950a258-227b-4e31-a9cf-717495945fc2"),
    ("Microsoft Graph Command Line Tools", "14d82eec-204b-4c2f-b7e8-296a70dab67e"),
    ("Graph Explorer", "de8bc8b5-d9f9-48b1-a8ad-b748da725064"),
)
APP_INDEX = {name: i for i, (name, _) in enumerate(APPS)}
#: Admin tools that take a password grant: what a spray rotates its app among.
ADMIN_TOOLS: tuple[str, ...] = ("Azure Active Directory PowerShell", "Microsoft Azure CLI",
                                "Microsoft Azure PowerShell", "Microsoft Graph Command Line Tools", "Graph Explorer")

#: Which app a sign-in is for, by the kind of client (weights need not sum to 1).
BROWSER_APPS = {"OfficeHome": 0.22, "Office 365 Exchange Online": 0.28, "Office 365 SharePoint Online": 0.22,
                "Microsoft Teams": 0.14, "My Apps": 0.09, "Azure Portal": 0.05}
CLIENT_APPS_MIX = {"Microsoft Office": 0.30, "Microsoft Teams": 0.30, "Office 365 Exchange Online": 0.25,
                   "OneDrive SyncEngine": 0.10, "Microsoft Authentication Broker": 0.05}

CLIENTS: tuple[str, ...] = ("Browser", "Mobile Apps and Desktop clients", "Exchange ActiveSync", "IMAP4",
                            "Authenticated SMTP", "Exchange Web Services", "Other clients", "POP3")
CLIENT_INDEX = {name: i for i, name in enumerate(CLIENTS)}
#: Client apps that take a password without modern authentication: what a spray tool speaks.
LEGACY_PROTOCOLS: tuple[str, ...] = ("Exchange ActiveSync", "IMAP4", "Authenticated SMTP", "Exchange Web Services",
                                     "Other clients", "POP3")

#: ResultType → ResultDescription (Entra ID's wording).
RESULTS: dict[int, str] = {
    0: "",
    50126: "Error validating credentials due to invalid username or password.",
    50055: "The password is expired.",
    50053: "Account is locked because user tried to sign in too many times with an incorrect user ID or password.",
    50074: "Strong Authentication is required.",
    50140: "This error occurred due to 'Keep me signed in' interrupt when the user was signing-in.",
    500121: "Authentication failed during strong authentication request.",
}

#: Browser families with their release versions and how common each version is at the simulated time.
CHROME_VERSIONS = {118: 0.06, 119: 0.14, 120: 0.45, 121: 0.35}
EDGE_VERSIONS = {118: 0.05, 119: 0.15, 120: 0.45, 121: 0.35}
FIREFOX_VERSIONS = {119: 0.15, 120: 0.35, 121: 0.35, 122: 0.15}
SAFARI_VERSIONS = {"16.6": 0.15, "17.1": 0.25, "17.2": 0.45, "17.3": 0.15}
IOS_VERSIONS = {"16_7_4": 0.12, "17_1_2": 0.2, "17_2_1": 0.45, "17_3": 0.23}
ANDROID_VERSIONS = {"12": 0.15, "13": 0.35, "14": 0.5}
MACOS_VERSIONS = {"10_15_7": 1.0}  # browsers freeze the macOS version in the UA

FIRST_NAMES = ("James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
               "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
               "Priya", "Raj", "Anika", "Lukas", "Sophie", "Oliver", "Amelia", "Noah", "Olivia", "Liam", "Emma",
               "Hannah", "Felix", "Leon", "Mia", "Arjun", "Diya", "Chen", "Wei", "Fatima", "Omar", "Aisha", "Carlos",
               "Lucia", "Mateo", "Isabella", "Ethan", "Ava", "Jack", "Grace")
LAST_NAMES = ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
              "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee",
              "Patel", "Sharma", "Singh", "Muller", "Schmidt", "Schneider", "Fischer", "Evans", "Roberts", "Walker",
              "Wright", "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson", "Young", "King", "Scott",
              "Green", "Baker", "Adams", "Nelson", "Hill", "Campbell", "Mitchell", "Carter", "Nguyen", "Kim")

#: Month-day public holidays per home country (activity drops to weekend level).
HOLIDAYS: dict[str, tuple[tuple[int, int], ...]] = {
    "US": ((1, 1), (1, 15), (2, 19), (5, 27), (6, 19), (7, 4), (9, 2), (11, 28), (12, 25)),
    "GB": ((1, 1), (3, 29), (4, 1), (5, 6), (5, 27), (8, 26), (12, 25), (12, 26)),
    "DE": ((1, 1), (3, 29), (4, 1), (5, 1), (5, 9), (10, 3), (12, 25), (12, 26)),
    "IN": ((1, 26), (3, 25), (8, 15), (10, 2), (11, 1)),
}
