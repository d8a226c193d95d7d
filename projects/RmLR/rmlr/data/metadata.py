"""Class lists and dataset metadata of the HOI datasets (contract: ``projects/RmLR/README.md``).

Object categories are COCO-80 contiguous ids, 0-based, ``person`` = 0 (Detectron2's COCO names,
e.g. ``"dining table"``). HICO-DET files spell them with underscores (``"dining_table"``) and come
in COCO-80 order or in HICO's alphabetical order; :func:`object_order_to_coco80` maps either one.

The class lists below are the public HICO-DET and V-COCO definitions:

* ``HICO_VERBS``: the 117 HICO-DET verbs in HICO order (as in the annotation files).
* ``HICO_HOI_CLASSES``: the 600 HOI classes as ``(object_id, verb_id)`` in HICO HOI order (the
  ``correspondence`` table of the annotation files, with COCO-80 object ids).
* ``VCOCO_ACTION_ROLES``: the 24 "action role" classes of the UPT-style V-COCO files.
* ``VCOCO_OBJECTS_PER_ACTION_ROLE``: object ids seen with each action-role in V-COCO trainval
  (``action_to_object`` of those files, 0-based; identical in every split).

:class:`HOIMetadata` is Detectron2's ``Metadata`` with entries computed on first access; the
loaders use it for the rare / non-rare split, which needs the training annotations (parsing them at
registration would make ``import rmlr`` read a 12 MB file).
"""

from typing import Callable, Dict, List, Mapping, Sequence, Tuple

from detectron2.data import Metadata, MetadataCatalog
from detectron2.data.datasets.builtin_meta import COCO_CATEGORIES

__all__ = [
    "COCO_THING_CLASSES",
    "COCO_THING_DATASET_IDS",
    "PERSON_CATEGORY_ID",
    "HICO_VERBS",
    "HICO_OBJECTS_ALPHABETICAL",
    "HICO_HOI_CLASSES",
    "VCOCO_ACTION_ROLES",
    "VCOCO_OBJECTS_PER_ACTION_ROLE",
    "RARE_THRESHOLD",
    "HOIMetadata",
    "normalize_class_name",
    "object_order_to_coco80",
    "valid_verbs_per_object",
    "vcoco_valid_verbs_per_object",
    "rare_split",
    "register_metadata",
]

_COCO_THINGS = [c for c in COCO_CATEGORIES if c["isthing"]]

#: The 80 COCO object names in contiguous order (index = COCO-80 id; Detectron2's spelling).
COCO_THING_CLASSES: Tuple[str, ...] = tuple(c["name"] for c in _COCO_THINGS)
#: COCO-91 category id (as in COCO's json files) of each COCO-80 contiguous id.
COCO_THING_DATASET_IDS: Tuple[int, ...] = tuple(c["id"] for c in _COCO_THINGS)
PERSON_CATEGORY_ID = 0
#: A HOI class with fewer training instances than this is "rare" (HICO-DET's ``eval_one.m``).
RARE_THRESHOLD = 10


def normalize_class_name(name: str) -> str:
    """``"Dining_Table"`` -> ``"dining table"``: the spelling used to compare class lists."""
    return " ".join(str(name).replace("_", " ").lower().split())


#: HICO's alphabetical object order (``airplane`` = 0, ``person`` = 49), as in its files.
HICO_OBJECTS_ALPHABETICAL: Tuple[str, ...] = tuple(
    sorted(name.replace(" ", "_") for name in COCO_THING_CLASSES)
)

#: The 117 HICO-DET verbs, in HICO order (index = verb id).
HICO_VERBS: Tuple[str, ...] = tuple("""
adjust assemble block blow board break brush_with buy carry catch chase check clean control cook
cut cut_with direct drag dribble drink_with drive dry eat eat_at exit feed fill flip flush fly
greet grind groom herd hit hold hop_on hose hug hunt inspect install jump kick kiss lasso launch
lick lie_on lift light load lose make milk move no_interaction open operate pack paint park pay
peel pet pick pick_up point pour pull push race read release repair ride row run sail scratch
serve set shear sign sip sit_at sit_on slide smell spin squeeze stab stand_on stand_under stick
stir stop_at straddle swing tag talk_on teach text_on throw tie toast train turn type_on walk
wash watch wave wear wield zip
""".split())

# One entry per object, in HICO HOI order (objects alphabetical); an indented line continues the
# entry above it. Verbs are listed in HOI order.
_HICO_HOI_TABLE = """
airplane: board direct exit fly inspect load ride sit_on wash no_interaction
bicycle: carry hold inspect jump hop_on park push repair ride sit_on straddle walk wash
    no_interaction
bird: chase feed hold pet release watch no_interaction
boat: board drive exit inspect jump launch repair ride row sail sit_on stand_on tie wash
    no_interaction
bottle: carry drink_with hold inspect lick open pour no_interaction
bus: board direct drive exit inspect load ride sit_on wash wave no_interaction
car: board direct drive hose inspect jump load park ride wash no_interaction
cat: dry feed hold hug kiss pet scratch wash chase no_interaction
chair: carry hold lie_on sit_on stand_on no_interaction
couch: carry lie_on sit_on no_interaction
cow: feed herd hold hug kiss lasso milk pet ride walk no_interaction
dining_table: clean eat_at sit_at no_interaction
dog: carry dry feed groom hold hose hug inspect kiss pet run scratch straddle train walk wash
    chase no_interaction
horse: feed groom hold hug jump kiss load hop_on pet race ride run straddle train walk wash
    no_interaction
motorcycle: hold inspect jump hop_on park push race ride sit_on straddle turn walk wash
    no_interaction
person: carry greet hold hug kiss stab tag teach lick no_interaction
potted_plant: carry hold hose no_interaction
sheep: carry feed herd hold hug kiss pet ride shear walk wash no_interaction
train: board drive exit load ride sit_on wash no_interaction
tv: control repair watch no_interaction
apple: buy cut eat hold inspect peel pick smell wash no_interaction
backpack: carry hold inspect open wear no_interaction
banana: buy carry cut eat hold inspect peel pick smell no_interaction
baseball_bat: break carry hold sign swing throw wield no_interaction
baseball_glove: hold wear no_interaction
bear: feed hunt watch no_interaction
bed: clean lie_on sit_on no_interaction
bench: inspect lie_on sit_on no_interaction
book: carry hold open read no_interaction
bowl: hold stir wash lick no_interaction
broccoli: cut eat hold smell stir wash no_interaction
cake: blow carry cut eat hold light make pick_up no_interaction
carrot: carry cook cut eat hold peel smell stir wash no_interaction
cell_phone: carry hold read repair talk_on text_on no_interaction
clock: check hold repair set no_interaction
cup: carry drink_with hold inspect pour sip smell fill wash no_interaction
donut: buy carry eat hold make pick_up smell no_interaction
elephant: feed hold hose hug kiss hop_on pet ride walk wash watch no_interaction
fire_hydrant: hug inspect open paint no_interaction
fork: hold lift stick lick wash no_interaction
frisbee: block catch hold spin throw no_interaction
giraffe: feed kiss pet ride watch no_interaction
hair_drier: hold operate repair no_interaction
handbag: carry hold inspect no_interaction
hot_dog: carry cook cut eat hold make no_interaction
keyboard: carry clean hold type_on no_interaction
kite: assemble carry fly hold inspect launch pull no_interaction
knife: cut_with hold stick wash wield lick no_interaction
laptop: hold open read repair type_on no_interaction
microwave: clean open operate no_interaction
mouse: control hold repair no_interaction
orange: buy cut eat hold inspect peel pick squeeze wash no_interaction
oven: clean hold inspect open repair operate no_interaction
parking_meter: check pay repair no_interaction
pizza: buy carry cook cut eat hold make pick_up slide smell no_interaction
refrigerator: clean hold move open no_interaction
remote: hold point swing no_interaction
sandwich: carry cook cut eat hold make no_interaction
scissors: cut_with hold open no_interaction
sink: clean repair wash no_interaction
skateboard: carry flip grind hold jump pick_up ride sit_on stand_on no_interaction
skis: adjust carry hold inspect jump pick_up repair ride stand_on wear no_interaction
snowboard: adjust carry grind hold jump ride stand_on wear no_interaction
spoon: hold lick wash sip no_interaction
sports_ball: block carry catch dribble hit hold inspect kick pick_up serve sign spin throw
    no_interaction
stop_sign: hold stand_under stop_at no_interaction
suitcase: carry drag hold hug load open pack pick_up zip no_interaction
surfboard: carry drag hold inspect jump lie_on load ride stand_on sit_on wash no_interaction
teddy_bear: carry hold hug kiss no_interaction
tennis_racket: carry hold inspect swing no_interaction
tie: adjust cut hold inspect pull tie wear no_interaction
toaster: hold operate repair no_interaction
toilet: clean flush open repair sit_on stand_on wash no_interaction
toothbrush: brush_with hold wash no_interaction
traffic_light: install repair stand_under stop_at no_interaction
truck: direct drive inspect load repair ride sit_on wash no_interaction
umbrella: carry hold lose open repair set stand_under no_interaction
vase: hold make paint no_interaction
wine_glass: fill hold sip toast lick wash no_interaction
zebra: feed hold pet watch no_interaction
"""


def _parse_hoi_table(table: str) -> Tuple[Tuple[int, int], ...]:
    entries: List[List[str]] = []
    for line in table.strip("\n").splitlines():
        if line.startswith(" "):
            entries[-1].extend(line.split())
        else:
            name, verbs = line.split(":")
            entries.append([name] + verbs.split())
    coco = {normalize_class_name(n): i for i, n in enumerate(COCO_THING_CLASSES)}
    verb_ids = {v: i for i, v in enumerate(HICO_VERBS)}
    return tuple(
        (coco[normalize_class_name(name)], verb_ids[verb])
        for name, *verbs in entries
        for verb in verbs
    )


#: The 600 HICO-DET HOI classes as ``(COCO-80 object id, verb id)``, in HICO HOI order.
HICO_HOI_CLASSES: Tuple[Tuple[int, int], ...] = _parse_hoi_table(_HICO_HOI_TABLE)

#: The 24 V-COCO action-role classes of the UPT-style files (index = verb id).
VCOCO_ACTION_ROLES: Tuple[str, ...] = (
    "hold obj",
    "sit instr",
    "ride instr",
    "look obj",
    "hit instr",
    "hit obj",
    "eat obj",
    "eat instr",
    "jump instr",
    "lay instr",
    "talk_on_phone instr",
    "carry obj",
    "throw obj",
    "catch obj",
    "cut instr",
    "cut obj",
    "work_on_computer instr",
    "ski instr",
    "surf instr",
    "skateboard instr",
    "drink instr",
    "kick obj",
    "read obj",
    "snowboard instr",
)

#: 0-based COCO-80 object ids seen with each V-COCO action-role (trainval ``action_to_object``).
# fmt: off
VCOCO_OBJECTS_PER_ACTION_ROLE: Tuple[Tuple[int, ...], ...] = (
    # hold obj
    (0, 1, 3, 7, 8, 13, 14, 15, 16, 17, 18, 19, 20, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34,
     35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56,
     59, 60, 63, 64, 65, 66, 67, 72, 73, 76, 77, 78, 79),
    # sit instr
    (1, 3, 13, 17, 20, 24, 26, 28, 56, 57, 59, 60, 61),
    # ride instr
    (1, 2, 3, 5, 6, 7, 8, 17, 20),
    # look obj
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 14, 15, 16, 17, 18, 19, 20, 23, 24, 25, 26, 27, 28,
     29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 50, 52,
     53, 54, 55, 56, 58, 60, 61, 62, 63, 64, 65, 66, 67, 72, 73, 74, 76),
    # hit instr
    (34, 38),
    # hit obj
    (32,),
    # eat obj
    (46, 47, 48, 49, 50, 51, 52, 53, 54, 55),
    # eat instr
    (42, 43, 44),
    # jump instr
    (30, 31, 36, 37),
    # lay instr
    (13, 56, 57, 59, 60, 61),
    # talk_on_phone instr
    (67,),
    # carry obj
    (0, 1, 2, 16, 18, 24, 25, 26, 28, 29, 30, 31, 32, 33, 34, 36, 37, 38, 39, 40, 41, 46, 49,
     54, 63, 67, 73, 74, 77),
    # throw obj
    (29, 32),
    # catch obj
    (29, 32),
    # cut instr
    (42, 43, 76),
    # cut obj
    (0, 18, 27, 36, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 63, 73),
    # work_on_computer instr
    (63,),
    # ski instr
    (30,),
    # surf instr
    (37,),
    # skateboard instr
    (36,),
    # drink instr
    (39, 40, 41, 45),
    # kick obj
    (32,),
    # read obj
    (73,),
    # snowboard instr
    (31,),
)
# fmt: on


def object_order_to_coco80(objects: Sequence[str], *, source: str) -> Tuple[List[int], str]:
    """Map a file's object list to COCO-80 ids.

    Args:
        objects: the file's ``objects`` list (80 names, any spelling of Detectron2's COCO names).
        source: the file, named in the error.

    Returns:
        ``(mapping, order)``: ``mapping[i]`` is the COCO-80 id of the file's object ``i``;
        ``order`` is ``"coco80"`` or ``"hico_alphabetical"``.

    Raises:
        ValueError: the list is neither COCO-80 order (``person`` = 0) nor HICO's alphabetical
            order (``person`` = 49). Other permutations are refused rather than guessed.
    """
    names = tuple(normalize_class_name(n) for n in objects)
    coco = tuple(normalize_class_name(n) for n in COCO_THING_CLASSES)
    if names == coco:
        return list(range(len(coco))), "coco80"
    if names == tuple(normalize_class_name(n) for n in HICO_OBJECTS_ALPHABETICAL):
        index = {n: i for i, n in enumerate(coco)}
        return [index[n] for n in names], "hico_alphabetical"
    raise ValueError(
        f"{source}: unknown object order in 'objects' ({len(objects)} names, first "
        f"{list(objects[:3])}): expected the 80 COCO classes in COCO-80 order (person = 0) or in "
        "HICO's alphabetical order (person = 49)"
    )


def valid_verbs_per_object(
    hoi_classes: Sequence[Tuple[int, int]], num_objects: int = len(COCO_THING_CLASSES)
) -> List[List[int]]:
    """``result[o]``: sorted verb ids that form a HOI class with object ``o``."""
    verbs: List[set] = [set() for _ in range(num_objects)]
    for obj, verb in hoi_classes:
        verbs[obj].add(verb)
    return [sorted(v) for v in verbs]


def vcoco_valid_verbs_per_object() -> List[List[int]]:
    """``result[o]``: the V-COCO action-roles seen with object ``o`` in trainval."""
    verbs: List[List[int]] = [[] for _ in COCO_THING_CLASSES]
    for action, objects in enumerate(VCOCO_OBJECTS_PER_ACTION_ROLE):
        for obj in objects:
            verbs[obj].append(action)
    return verbs


def rare_split(counts: Sequence[int], threshold: int = RARE_THRESHOLD) -> Dict[str, List[int]]:
    """Rare / non-rare HOI classes from per-class training instance counts.

    A class with fewer than ``threshold`` training instances (zero included) is rare.
    """
    rare = [i for i, c in enumerate(counts) if c < threshold]
    non_rare = [i for i, c in enumerate(counts) if c >= threshold]
    return {"rare_hoi_ids": rare, "non_rare_hoi_ids": non_rare}


class HOIMetadata(Metadata):
    """Detectron2 ``Metadata`` whose expensive entries are computed on first access.

    ``lazy`` maps attribute names to a provider; a provider returns a dict of attributes (it may
    set several at once, e.g. ``rare_hoi_ids`` and ``non_rare_hoi_ids``) and is called at most
    once. Everything else behaves like ``Metadata`` (values cannot be changed once set; lazy ones
    do not appear in ``as_dict()`` before their first access).
    """

    __slots__ = ("_lazy",)

    def __init__(self, *, name: str, lazy: Mapping[str, Callable[[], Dict]] = None, **kwargs):
        super().__init__(name=name, **kwargs)
        object.__setattr__(self, "_lazy", dict(lazy or {}))

    def __getattr__(self, key):
        try:
            provider = object.__getattribute__(self, "_lazy").get(key)
        except AttributeError:  # during unpickling / before __init__ completed
            provider = None
        if provider is None:
            return super().__getattr__(key)
        values = provider()
        if key not in values:
            raise AttributeError(f"metadata of {self.name!r}: provider did not compute {key!r}")
        lazy = object.__getattribute__(self, "_lazy")
        for k, v in values.items():
            self.__dict__[k] = v
            lazy.pop(k, None)
        return values[key]


def register_metadata(name: str, metadata: Metadata) -> None:
    """Put ``metadata`` in ``MetadataCatalog`` under ``name``.

    Raises:
        ValueError: metadata with entries was already set for ``name`` (remove it first with
            ``MetadataCatalog.remove(name)``, as for ``DatasetCatalog``).
    """
    existing = MetadataCatalog.data.get(name)
    if existing is not None and set(existing.__dict__) - {"name"}:
        raise ValueError(f"metadata of dataset {name!r} is already set")
    MetadataCatalog[name] = metadata
