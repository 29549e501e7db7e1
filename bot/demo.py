"""A believable demo factory: eight designs, sixty artisans across Nairobi, a few orders.

Everything goes through the domain services, exactly as real data would, so the demo exercises
the same rules. It is deterministic: the same ``now`` gives the same factory, name for name and
number for number (a fixed random seed; dates count from ``now``).

Piece rates are set so the artisans' share of each product's wholesale price lands at 25-35%
(the default revenue-share band); tests/integration/test_demo_seed.py checks it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.demo_history import VERIFIED_AFTER, joined_at, seed_history, staff_since
from domain.csv_formats import (
    BomLineSpec,
    CatalogueSpec,
    ComponentSpec,
    MaterialSpec,
    OrderLineSpec,
    OrderSpec,
    ProductSpec,
)
from domain.explosion import FACTORY_ZONE, factory_today
from domain.model import Channel, Component, CustomerKind, Job, Language, NameKind, Person, Role
from domain.phone import InvalidPhoneNumber, normalise_kenyan_mobile
from domain.services.catalogue_io import apply_catalogue
from domain.services.names import NameRow, apply_names
from domain.services.offers import accept_offer, make_offer
from domain.services.orders import confirm_order, create_order, get_or_create_customer
from domain.services.people import add_person, register_artisan, verify_artisan

DEMO_SEED = 2026
ARTISAN_COUNT = 60
PENDING_COUNT = 6
TELEGRAM_COUNT = 5


def _materials(*items: tuple[str, str, str]) -> tuple[MaterialSpec, ...]:
    # In name order, as the database hands them back, so an export matches examples/products.csv.
    return tuple(
        MaterialSpec(name, Decimal(quantity), unit) for name, quantity, unit in sorted(items)
    )


def _component(
    code: str,
    name: str,
    skill: str,
    rate_kes: int,
    lead_days: int,
    *materials: tuple[str, str, str],
) -> ComponentSpec:
    return ComponentSpec(code, name, skill, rate_kes * 100, lead_days, _materials(*materials))


def _product(
    sku: str, name: str, wholesale_kes: int, assembly_days: int, *bom: tuple[str, int]
) -> ProductSpec:
    # Retail is twice wholesale: the usual keystone mark-up of Nairobi's craft shops.
    return ProductSpec(
        sku,
        name,
        wholesale_kes * 100,
        wholesale_kes * 200,
        assembly_days,
        tuple(BomLineSpec(code, quantity) for code, quantity in bom),
    )


DEMO_CATALOGUE = CatalogueSpec(
    components=(
        _component(
            "horn_crescent", "Horn crescent pendant", "horn_carving", 250, 6,
            ("cattle horn", "0.06", "kg"), ("sandpaper", "0.2", "sheet"),
        ),
        _component("horn_drop", "Horn teardrop drop", "horn_carving", 100, 5,
                   ("cattle horn", "0.02", "kg")),
        _component("horn_fob", "Horn key fob", "horn_carving", 120, 5,
                   ("cattle horn", "0.03", "kg")),
        _component(
            "bone_bangle", "Carved bone bangle", "bone_carving", 270, 7,
            ("cattle bone", "0.08", "kg"), ("beeswax", "0.005", "kg"),
        ),
        _component("bone_bead", "Bone bead 12 mm", "bone_carving", 10, 4,
                   ("cattle bone", "0.004", "kg")),
        _component("brass_bail", "Brass pendant bail", "brass_casting", 40, 3,
                   ("brass scrap", "0.005", "kg")),
        _component(
            "brass_cuff_blank", "Brass cuff blank", "brass_casting", 300, 6,
            ("brass scrap", "0.09", "kg"), ("charcoal", "0.3", "kg"),
        ),
        _component("brass_clasp", "Cast brass clasp", "brass_casting", 60, 4,
                   ("brass scrap", "0.01", "kg")),
        _component("brass_key_ring", "Cast brass key ring", "brass_casting", 70, 4,
                   ("brass scrap", "0.015", "kg")),
        _component("ear_hook", "Brass wire ear hook", "wire_work", 15, 3,
                   ("brass wire", "0.002", "kg")),
        _component("wire_spiral", "Brass wire spiral drop", "wire_work", 70, 3,
                   ("brass wire", "0.004", "kg")),
        _component("wire_wrap", "Copper wire cuff wrap", "wire_work", 150, 4,
                   ("copper wire", "0.02", "kg")),
        _component("wire_collar_frame", "Wire collar frame", "wire_work", 70, 3,
                   ("galvanised wire", "0.05", "kg")),
        _component(
            "beaded_cord", "Beaded neck cord", "beadwork", 70, 3,
            ("glass beads", "60", "pcs"), ("waxed cord", "0.8", "m"),
        ),
        _component(
            "collar_disc", "Maasai beaded collar disc", "beadwork", 600, 8,
            ("glass beads", "900", "pcs"), ("nylon thread", "12", "m"),
        ),
        _component(
            "spacer_strand", "Glass bead spacer strand", "beadwork", 60, 3,
            ("glass beads", "40", "pcs"), ("nylon thread", "1", "m"),
        ),
    ),
    products=(
        _product("HRN-PND-01", "Ankole horn crescent pendant", 1200, 1,
                 ("horn_crescent", 1), ("brass_bail", 1), ("beaded_cord", 1)),
        _product("BNE-BNG-02", "Carved bone bangle", 900, 1, ("bone_bangle", 1)),
        _product("BRS-CUF-03", "Brass cuff with copper wrap", 1500, 1,
                 ("brass_cuff_blank", 1), ("wire_wrap", 1)),
        _product("WIR-EAR-04", "Brass wire spiral earrings (pair)", 600, 1,
                 ("wire_spiral", 2), ("ear_hook", 2)),
        _product("BED-COL-05", "Maasai beaded collar", 2500, 2,
                 ("collar_disc", 1), ("brass_clasp", 1), ("wire_collar_frame", 1)),
        _product("HRN-EAR-06", "Horn teardrop earrings (pair)", 800, 1,
                 ("horn_drop", 2), ("ear_hook", 2)),
        _product("BNE-NCK-07", "Bone bead necklace", 1100, 1,
                 ("bone_bead", 24), ("spacer_strand", 1), ("brass_clasp", 1)),
        _product("BRS-KEY-08", "Horn and brass key ring", 650, 1,
                 ("horn_fob", 1), ("brass_key_ring", 1)),
    ),
)  # fmt: skip

# What people read instead of codes, in English and Kiswahili (examples/names.csv is the same).
DEMO_NAMES: dict[NameKind, dict[str, tuple[str, str]]] = {
    NameKind.SKILL: {
        "horn_carving": ("horn carving", "uchongaji wa pembe"),
        "bone_carving": ("bone carving", "uchongaji wa mifupa"),
        "brass_casting": ("brass casting", "uyeyushaji wa shaba"),
        "wire_work": ("wire work", "kazi ya waya"),
        "beadwork": ("beadwork", "kazi ya shanga"),
    },
    NameKind.COMPONENT: {
        "horn_crescent": ("Horn crescent pendant", "Kidani cha pembe cha hilali"),
        "horn_drop": ("Horn teardrop drop", "Kishaufu cha pembe cha umbo la tone"),
        "horn_fob": ("Horn key fob", "Kishikio cha funguo cha pembe"),
        "bone_bangle": ("Carved bone bangle", "Bangili ya mfupa iliyochongwa"),
        "bone_bead": ("Bone bead 12 mm", "Shanga ya mfupa ya mm 12"),
        "brass_bail": ("Brass pendant bail", "Kishikio cha kidani cha shaba"),
        "brass_cuff_blank": ("Brass cuff blank", "Kikuku ghafi cha shaba"),
        "brass_clasp": ("Cast brass clasp", "Kifungo cha shaba"),
        "brass_key_ring": ("Cast brass key ring", "Pete ya funguo ya shaba"),
        "ear_hook": ("Brass wire ear hook", "Ndoano ya hereni ya waya wa shaba"),
        "wire_spiral": ("Brass wire spiral drop", "Kishaufu cha waya wa shaba cha mzunguko"),
        "wire_wrap": ("Copper wire cuff wrap", "Mzingo wa kikuku wa waya wa shaba nyekundu"),
        "wire_collar_frame": ("Wire collar frame", "Fremu ya waya ya kola"),
        "beaded_cord": ("Beaded neck cord", "Kamba ya shingo yenye shanga"),
        "collar_disc": ("Maasai beaded collar disc", "Kola ya shanga ya Kimaasai"),
        "spacer_strand": ("Glass bead spacer strand", "Uzi wa shanga za kioo za kutenganisha"),
    },
    NameKind.MATERIAL: {
        "beeswax": ("beeswax", "nta ya nyuki"),
        "brass scrap": ("brass scrap", "shaba chakavu"),
        "brass wire": ("brass wire", "waya wa shaba"),
        "cattle bone": ("cattle bone", "mifupa ya ng'ombe"),
        "cattle horn": ("cattle horn", "pembe za ng'ombe"),
        "charcoal": ("charcoal", "mkaa"),
        "copper wire": ("copper wire", "waya wa shaba nyekundu"),
        "galvanised wire": ("galvanised wire", "waya wa mabati"),
        "glass beads": ("glass beads", "shanga za kioo"),
        "nylon thread": ("nylon thread", "uzi wa nailoni"),
        "sandpaper": ("sandpaper", "msasa"),
        "waxed cord": ("waxed cord", "kamba yenye nta"),
    },
    NameKind.PRODUCT: {
        "BED-COL-05": ("Maasai beaded collar", "Mkufu wa shingo wa shanga wa Kimaasai"),
        "BNE-BNG-02": ("Carved bone bangle", "Bangili ya mfupa iliyochongwa"),
        "BNE-NCK-07": ("Bone bead necklace", "Mkufu wa shanga za mfupa"),
        "BRS-CUF-03": (
            "Brass cuff with copper wrap",
            "Bangili pana ya shaba yenye waya wa shaba nyekundu",
        ),
        "BRS-KEY-08": ("Horn and brass key ring", "Pete ya funguo ya pembe na shaba"),
        "HRN-EAR-06": ("Horn teardrop earrings (pair)", "Hereni za pembe za tone (jozi)"),
        "HRN-PND-01": ("Ankole horn crescent pendant", "Kidani cha hilali cha pembe ya Ankole"),
        "WIR-EAR-04": (
            "Brass wire spiral earrings (pair)",
            "Hereni za waya wa shaba za mzunguko (jozi)",
        ),
    },
}


# Each area leans towards the crafts its workshops are known for; any skill may turn up anywhere.
AREA_SPECIALTIES: dict[str, tuple[str, ...]] = {
    "Kibera": ("bone_carving", "beadwork"),
    "Mathare": ("wire_work", "beadwork"),
    "Kariobangi": ("horn_carving", "bone_carving"),
    "Dandora": ("brass_casting", "wire_work"),
    "Kawangware": ("beadwork", "wire_work"),
    "Githurai": ("brass_casting", "beadwork"),
    "Kayole": ("horn_carving", "brass_casting"),
    "Eastleigh": ("beadwork", "wire_work"),
    "Kangemi": ("bone_carving", "horn_carving"),
    "Ngong Road": ("beadwork", "brass_casting"),
    "Korogocho": ("horn_carving", "wire_work"),
    "Mukuru": ("brass_casting", "bone_carving"),
}
SKILLS = ("horn_carving", "bone_carving", "brass_casting", "wire_work", "beadwork")
WEEKLY_CAPACITY = {  # pieces a week one workshop can make with the skill (low, high)
    "horn_carving": (15, 45),
    "bone_carving": (40, 200),  # bone beads are small: a carver turns out many a day
    "brass_casting": (30, 120),
    "wire_work": (40, 150),
    "beadwork": (10, 40),
}
SKILL_WORDS = {
    "horn_carving": "Horn",
    "bone_carving": "Bone",
    "brass_casting": "Brass",
    "wire_work": "Wire",
    "beadwork": "Beads",
}
GROUP_WORDS = ("Group", "Collective", "Self-Help Group", "Artisans", "Works", "Youth Group")

FIRST_NAMES = (
    "Wanjiru", "Achieng", "Akinyi", "Njeri", "Wambui", "Nyambura", "Atieno", "Adhiambo", "Mwende",
    "Mumbua", "Nafula", "Nekesa", "Chebet", "Jepkoech", "Wairimu", "Muthoni", "Kerubo", "Moraa",
    "Halima", "Amina", "Fatuma", "Zawadi", "Neema", "Imani", "Otieno", "Omondi", "Ochieng",
    "Kamau", "Mwangi", "Njoroge", "Kiprono", "Kipchumba", "Wafula", "Barasa", "Wekesa", "Mutua",
    "Musyoka", "Kiptoo", "Juma", "Hassan", "Abdi", "Baraka", "Kioko", "Onyango", "Odhiambo",
    "Kariuki", "Gitau", "Maina", "Brian", "Kevin", "Faith", "Mercy", "Grace", "Dennis", "Esther",
)  # fmt: skip
SURNAMES = (
    "Kamau", "Otieno", "Wanjiku", "Mwangi", "Ochieng", "Njoroge", "Odhiambo", "Mutua", "Kiprop",
    "Wekesa", "Barasa", "Achola", "Nyaga", "Kimani", "Owino", "Karanja", "Omondi", "Chelimo",
    "Rotich", "Mohamed", "Ali", "Wambua", "Ndunda", "Muriuki", "Gathoni", "Waweru", "Onyango",
    "Makori", "Nyamweya", "Simiyu", "Wanyama", "Kiplagat", "Macharia", "Kiprotich", "Ouma",
)  # fmt: skip

# Safaricom's 07XX prefixes, the ones M-Pesa wallets are on.
SAFARICOM_PREFIXES = (
    *(f"070{d}" for d in range(10)),
    *(f"071{d}" for d in range(10)),
    *(f"072{d}" for d in range(10)),
    *(f"079{d}" for d in range(10)),
    "0740", "0741", "0742", "0743", "0745", "0746", "0748", "0757", "0758", "0759", "0768", "0769",
)  # fmt: skip

CENTRAL_WORKSHOP_AREA = "Ngara"
# Area names are the same in both languages but one: a road is a "barabara".
AREA_NAMES_SW = {"Ngong Road": "Barabara ya Ngong"}


def demo_names() -> list[NameRow]:
    """The demo's names: its skills, components and materials, and its areas (known areas)."""
    rows = [
        NameRow(kind, code, {Language.EN: english, Language.SW: swahili})
        for kind, names in DEMO_NAMES.items()
        for code, (english, swahili) in names.items()
    ]
    for area in sorted({*AREA_SPECIALTIES, CENTRAL_WORKSHOP_AREA}):
        names = {Language.EN: area}
        if area in AREA_NAMES_SW:  # else Kiswahili readers read the English name, as it is
            names[Language.SW] = AREA_NAMES_SW[area]
        rows.append(NameRow(NameKind.AREA, area, names))
    return rows


@dataclass(frozen=True, slots=True)
class DemoStaff:
    name: str
    role: Role
    area: str
    covers: tuple[str, ...]  # the areas a field agent visits and reviews
    language: Language
    whatsapp: str = ""  # drawn with the artisans' numbers, so none is shared


STAFF = (
    DemoStaff("Grace Wanjiku Mwangi", Role.ADMIN, CENTRAL_WORKSHOP_AREA, (), Language.EN),
    DemoStaff(
        "Peter Ouma Okoth",
        Role.FIELD_AGENT,
        "Kibera",
        ("Kibera", "Kawangware", "Kangemi", "Ngong Road", "Mukuru"),
        Language.SW,
    ),
    DemoStaff(
        "Mercy Chebet Rotich",
        Role.FIELD_AGENT,
        "Kariobangi",
        ("Mathare", "Kariobangi", "Dandora", "Githurai", "Kayole", "Eastleigh", "Korogocho"),
        Language.EN,
    ),
)


@dataclass(frozen=True, slots=True)
class DemoOrder:
    spec: OrderSpec
    due_in_days: int
    confirm: bool


def demo_orders(now: datetime, zone: tzinfo = FACTORY_ZONE) -> list[DemoOrder]:
    """Three retailers' purchase orders and one web-shop order, due a few weeks from ``now``."""
    today = factory_today(now, zone)

    def order(
        customer: str,
        kind: CustomerKind,
        reference: str,
        due_in_days: int,
        confirm: bool,
        *lines: tuple[str, int],
    ) -> DemoOrder:
        spec = OrderSpec(
            customer=customer,
            customer_kind=kind,
            reference=reference,
            due_date=today + timedelta(days=due_in_days),
            lines=tuple(OrderLineSpec(sku, quantity) for sku, quantity in lines),
            line_numbers=(),
        )
        return DemoOrder(spec, due_in_days, confirm)

    retailer, web = CustomerKind.RETAILER, CustomerKind.WEB_SHOP
    return [
        order("Marula Home & Gifts", retailer, "PO-2026-014", 35, True,
              ("HRN-PND-01", 40), ("BRS-CUF-03", 20)),
        order("Safari Curio Wholesalers", retailer, "SCW-0388", 28, True,
              ("WIR-EAR-04", 120), ("BRS-KEY-08", 60)),
        order("Marula Home & Gifts", retailer, "PO-2026-015", 49, False,
              ("BED-COL-05", 10), ("BNE-NCK-07", 30)),
        order("Karakana web shop", web, "WEB-10231", 14, True,
              ("HRN-EAR-06", 2), ("BNE-BNG-02", 1)),
    ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class DemoArtisan:
    name: str
    workshop: str
    area: str
    skills: dict[str, int]
    mpesa_number: str
    language: Language
    channel: Channel
    address: str
    active: bool


@dataclass(frozen=True, slots=True)
class DemoSummary:
    products: int
    components: int
    artisans_active: int
    artisans_pending: int
    field_agents: int
    admins: int
    orders_confirmed: int
    orders_draft: int
    jobs: int


class _Numbers:
    """Distinct, valid Safaricom numbers from a seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def next(self) -> str:
        while True:
            local = self._rng.choice(SAFARICOM_PREFIXES) + f"{self._rng.randrange(10**6):06d}"
            try:
                number = normalise_kenyan_mobile(local)
            except InvalidPhoneNumber:
                continue
            if number not in self._used:
                self._used.add(number)
                return number


def demo_people(
    rng: random.Random | None = None,
) -> tuple[list[DemoStaff], list[DemoArtisan]]:
    """The staff and the artisans of the demo, the same on every call."""
    # Not for secrets: a seeded generator makes the demo the same on every machine.
    rng = rng or random.Random(DEMO_SEED)  # noqa: S311
    numbers = _Numbers(rng)
    staff = [replace(member, whatsapp=numbers.next()) for member in STAFF]

    names: set[str] = set()
    artisans: list[DemoArtisan] = []
    areas = list(AREA_SPECIALTIES)
    pending = set(rng.sample(range(ARTISAN_COUNT), PENDING_COUNT))
    on_telegram = set(rng.sample(range(ARTISAN_COUNT), TELEGRAM_COUNT))
    for index in range(ARTISAN_COUNT):
        name = ""
        while not name or name in names:
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"
        names.add(name)
        area = areas[index % len(areas)]
        skills = _skills_for(rng, area)
        mpesa = numbers.next()
        if index in on_telegram:
            channel, address = Channel.TELEGRAM, str(rng.randrange(10**8, 8 * 10**9))
        else:
            # Most artisans chat on the phone their M-Pesa is on; some keep a second line.
            channel = Channel.WHATSAPP
            address = mpesa if rng.random() < 0.8 else numbers.next()
        artisans.append(
            DemoArtisan(
                name=name,
                workshop=_workshop(rng, name, area, next(iter(skills))),
                area=area,
                skills=skills,
                mpesa_number=mpesa,
                language=Language.SW if rng.random() < 0.6 else Language.EN,
                channel=channel,
                address=address,
                active=index not in pending,
            )
        )
    return staff, artisans


def _skills_for(rng: random.Random, area: str) -> dict[str, int]:
    weights = [4 if skill in AREA_SPECIALTIES[area] else 1 for skill in SKILLS]
    wanted = rng.choices((1, 2, 3), weights=(70, 25, 5))[0]
    chosen: list[str] = []
    while len(chosen) < wanted:
        skill = rng.choices(SKILLS, weights=weights)[0]
        if skill not in chosen:
            chosen.append(skill)
    capacities = {}
    for skill in chosen:
        low, high = WEEKLY_CAPACITY[skill]
        capacities[skill] = rng.randrange(low, high + 1, 5) if high - low >= 5 else low
    return capacities


def _workshop(rng: random.Random, name: str, area: str, skill: str) -> str:
    if rng.random() < 0.35:
        return f"{name.split()[0]}'s workshop"
    return f"{area} {SKILL_WORDS[skill]} {rng.choice(GROUP_WORDS)}"


async def seed_demo(
    session: AsyncSession, *, now: datetime, zone: tzinfo = FACTORY_ZONE
) -> DemoSummary:
    """Fill an empty factory with the demo, inside the caller's transaction."""
    await apply_catalogue(session, DEMO_CATALOGUE)
    await apply_names(session, demo_names())

    staff, artisans = demo_people()
    agents_by_area: dict[str, int] = {}
    admin_id = 0
    for member in staff:
        person = await add_person(
            session,
            role=member.role,
            name=member.name,
            channel=Channel.WHATSAPP,
            address=member.whatsapp,
            language=member.language,
            area=member.area,
            areas=member.covers,
            now=staff_since(now, zone),
        )
        assert person.id is not None
        admin_id = person.id if member.role is Role.ADMIN else admin_id
        agents_by_area.update(dict.fromkeys(member.covers, person.id))

    registered: list[tuple[Person, DemoArtisan]] = []
    for index, artisan in enumerate(artisans):
        # Active artisans joined over the past HISTORY_MONTHS months (see demo_history.py);
        # those still waiting for a field agent's visit registered today.
        joined = joined_at(index, now, zone) if artisan.active else now
        person = await register_artisan(
            session,
            name=artisan.name,
            workshop=artisan.workshop,
            area=artisan.area,
            skills=artisan.skills,
            mpesa_number=artisan.mpesa_number,
            language=artisan.language,
            channel=artisan.channel,
            address=artisan.address,
            now=joined,
        )
        assert person.id is not None
        if artisan.active:
            await verify_artisan(
                session,
                artisan_id=person.id,
                agent_id=agents_by_area.get(artisan.area, admin_id),
                now=joined + VERIFIED_AFTER,
            )
        registered.append((person, artisan))

    await seed_history(
        session,
        [person for person, artisan in registered if artisan.active],
        admin_id=admin_id,
        agents_by_area=agents_by_area,
        now=now,
        zone=zone,
    )

    jobs: list[Job] = []
    confirmed = drafts = 0
    for demo in demo_orders(now, zone):
        customer = await get_or_create_customer(
            session, name=demo.spec.customer, kind=demo.spec.customer_kind
        )
        assert customer.id is not None
        order = await create_order(
            session,
            customer_id=customer.id,
            reference=demo.spec.reference,
            due_date=demo.spec.due_date,
            lines=[(line.sku, line.quantity) for line in demo.spec.lines],
            now=now,
            zone=zone,
        )
        assert order.id is not None
        if demo.confirm:
            jobs.extend(await confirm_order(session, order.id, now=now))
            confirmed += 1
        else:
            drafts += 1

    await _first_takers(session, jobs, registered, now=now)
    return DemoSummary(
        products=len(DEMO_CATALOGUE.products),
        components=len(DEMO_CATALOGUE.components),
        artisans_active=sum(1 for a in artisans if a.active),
        artisans_pending=sum(1 for a in artisans if not a.active),
        field_agents=sum(1 for member in staff if member.role is Role.FIELD_AGENT),
        admins=sum(1 for member in staff if member.role is Role.ADMIN),
        orders_confirmed=confirmed,
        orders_draft=drafts,
        jobs=len(jobs),
    )


async def _first_takers(
    session: AsyncSession,
    jobs: Sequence[Job],
    registered: Sequence[tuple[Person, DemoArtisan]],
    *,
    now: datetime,
) -> None:
    """Two horn carvers have already taken part of the first horn pendant job.

    So the demo shows work in production next to work still waiting for an artisan.
    """
    carvers = [
        person
        for person, artisan in registered
        if artisan.active and "horn_carving" in artisan.skills
    ][:2]
    pendant = (await session.exec(select(Component).where(Component.code == "horn_crescent"))).one()
    pendant_jobs = [job for job in jobs if job.component_id == pendant.id]
    if len(carvers) < 2 or not pendant_jobs:
        return
    job = pendant_jobs[0]
    assert job.id is not None
    for carver, share in zip(carvers, (job.quantity // 2, job.quantity // 4), strict=True):
        assert carver.id is not None
        offer = await make_offer(
            session,
            job_id=job.id,
            artisan_id=carver.id,
            quantity=share,
            expires_at=now + timedelta(hours=24),
            now=now,
        )
        assert offer.id is not None
        await accept_offer(session, offer_id=offer.id, artisan_id=carver.id, now=now)
